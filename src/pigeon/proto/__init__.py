"""Sans-I/O protocol code: bytes in, events out; pure, synchronous, no clock.

Nothing under ``pigeon.proto`` may import socket, asyncio, os, threading or time
(``tests/proto/test_purity.py`` parses every module here to enforce it). Time comes in as
an argument so that timeouts and retries are testable without sleeping.
"""

"""pigeon's one exception tree: every failure a user can meet, with its exit code.

Low-level errors (OSError, socket.gaierror, UnicodeError) are translated into this tree once,
at the edge that met them (``aio/`` for sockets), with ``raise ... from exc``. The CLI turns a
``PigeonError`` into one line on stderr and ``exit_code``; only ``--debug`` shows a traceback.
Nothing here imports anything heavier than the standard library's ``typing``. Every class
is also importable from the package itself (``pigeon.IntegrityError``), for API callers.

::

    PigeonError                       1  anything else that went wrong
    ├── UsageError                    2  the command line is wrong
    │   ├── InvalidPort               3  a port that is no number from 1 to 65535
    │   ├── InvalidHex                4  --hex input that is not hexadecimal
    │   ├── InvalidAddress            2  an address that cannot be parsed
    │   └── DestinationExists        17  a different file already has the name (use --force)
    ├── NetworkError                  1  (group) the network said no
    │   ├── UnknownHost               5  the name does not resolve
    │   ├── ConnectionRefused         6  nothing listens there (TCP RST / ICMP port unreachable)
    │   ├── NetworkUnreachable        7  no route to that network or host
    │   ├── AddressInUse              8  another program has the port
    │   ├── PortPermissionDenied      9  ports below 1024 need privileges
    │   ├── TimedOut                 11  no answer in time
    │   └── ConnectionLost           14  the peer vanished mid-conversation
    ├── DatagramTooLong              10  bigger than one UDP datagram can carry
    ├── NotDelivered                 12  a message was not acknowledged
    ├── ProtocolError                13  the peer broke the protocol (sans-I/O parsers raise it)
    ├── IntegrityError               15  a download's size or digest is wrong; nothing kept
    ├── HttpStatusError              16  the server answered with an error status (404, ...)
    ├── LocalWriteError              18  the destination cannot be written (disk full, ...)
    └── DownloadBusy                 19  another download is writing the same destination
"""

from __future__ import annotations


class PigeonError(Exception):
    """Base of every error pigeon reports to a user; ``str(err)`` is one clear line."""

    exit_code: int = 1


class UsageError(PigeonError):
    """The command line (or an API argument) is wrong."""

    exit_code = 2


class InvalidPort(UsageError):
    """A port that is not a number from 1 to 65535 (0 to 65535 where one is bound)."""

    exit_code = 3


class InvalidHex(UsageError):
    """Input given as hex (``--hex``) that cannot be decoded."""

    exit_code = 4


class InvalidAddress(UsageError):
    """An address such as ``[::1:80`` that cannot be parsed."""


class NetworkError(PigeonError):
    """The network or the operating system refused an operation."""


class UnknownHost(NetworkError):
    """A host name that does not resolve."""

    exit_code = 5


class ConnectionRefused(NetworkError):
    """Nothing listens at the address (TCP reset, or ICMP port unreachable for UDP)."""

    exit_code = 6


class NetworkUnreachable(NetworkError):
    """No route to the network or host."""

    exit_code = 7


class AddressInUse(NetworkError):
    """The local port is taken by another socket."""

    exit_code = 8


class PortPermissionDenied(NetworkError):
    """Binding a privileged port (< 1024) without the privilege, or a similar refusal."""

    exit_code = 9


class TimedOut(NetworkError):
    """No answer arrived within the allowed time."""

    exit_code = 11


class ConnectionLost(NetworkError):
    """The peer reset or dropped an established connection."""

    exit_code = 14


class DatagramTooLong(PigeonError):
    """A payload larger than one UDP datagram can carry."""

    exit_code = 10


class NotDelivered(PigeonError):
    """A message was sent but never acknowledged."""

    exit_code = 12


class ProtocolError(PigeonError):
    """The peer sent bytes that break the protocol being spoken."""

    exit_code = 13


class DestinationExists(UsageError):
    """The destination exists and differs; pigeon does not overwrite without --force."""

    exit_code = 17


class IntegrityError(PigeonError):
    """A download's size or SHA-256 does not match what the server announced."""

    exit_code = 15


class HttpStatusError(PigeonError):
    """The server answered with an error status; ``status`` holds it."""

    exit_code = 16

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LocalWriteError(PigeonError):
    """Writing the destination failed (disk full, read-only, permission)."""

    exit_code = 18


class DownloadBusy(PigeonError):
    """Another process holds the destination's ``.part``; ``pid`` is its process, if known."""

    exit_code = 19

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C, as shells report for SIGINT."""

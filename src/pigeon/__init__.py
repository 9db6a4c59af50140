"""pigeon: talk to the next machine on a LAN — datagrams, streams, chat, file serving and fetching.

This module stays tiny on purpose: ``pigeon --version`` imports it, and start-up time matters.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

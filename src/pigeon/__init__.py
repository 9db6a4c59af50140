"""pigeon: talk to the next machine on a LAN — datagrams, streams, chat, file serving and fetching.

This module stays tiny on purpose: ``pigeon --version`` imports it, and start-up time matters.
"""

__version__ = "0.1.0"

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~7 ms of start-up
if TYPE_CHECKING:
    from pigeon.aio.get import DownloadResult, download, download_async

__all__ = ["DownloadResult", "__version__", "download", "download_async"]


def __getattr__(name: str) -> object:
    """Lazy library API: ``pigeon.download`` imports asyncio and h11 only when used."""
    if name in ("download", "download_async", "DownloadResult"):
        from pigeon.aio import get

        return getattr(get, name)
    raise AttributeError(f"module 'pigeon' has no attribute {name!r}")

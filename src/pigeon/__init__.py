"""pigeon: talk to the next machine on a LAN — datagrams, streams, chat, file serving and fetching.

From Python (``docs/api.md`` has a runnable example of each)::

    import pigeon

    result = pigeon.download("http://192.168.1.7:7890/notes.txt", "downloads/")
    print(result.path, result.bytes, result.verified)
    try:
        pigeon.download("192.168.1.7:7890/missing.txt")
    except pigeon.HttpStatusError as exc:  # every error is a pigeon.PigeonError
        print(exc.status, exc)

The download functions and the error classes are imported on first use (``__getattr__``):
every ``pigeon`` command imports this package for ``__version__``, and most have no use for
the download machinery (``pigeon ip`` and ``--help`` not even for asyncio).
"""

__version__ = "0.1.0"

# What __getattr__ hands out is written for type checkers and editors in __init__.pyi: an
# ``if TYPE_CHECKING:`` block here would import ``typing`` into every command's start-up
# (bench/analysis.md, "Constants").

__all__ = [
    "AddressInUse",
    "ConnectionLost",
    "ConnectionRefused",
    "DatagramTooLong",
    "DestinationExists",
    "DownloadBusy",
    "DownloadResult",
    "HttpStatusError",
    "IntegrityError",
    "InvalidAddress",
    "InvalidHex",
    "InvalidPort",
    "LocalWriteError",
    "NetworkError",
    "NetworkUnreachable",
    "NotDelivered",
    "PigeonError",
    "PortPermissionDenied",
    "ProtocolError",
    "TimedOut",
    "UnknownHost",
    "UsageError",
    "__version__",
    "download",
    "download_async",
]
_DOWNLOADS = frozenset({"DownloadResult", "download", "download_async"})
_ERRORS = frozenset(__all__) - _DOWNLOADS - {"__version__"}  # the tree of pigeon.errors


def __getattr__(name: str) -> object:
    """Lazy library API: ``pigeon.download`` imports asyncio only when used."""
    if name in _DOWNLOADS:
        from pigeon.aio import get

        return getattr(get, name)
    if name in _ERRORS:
        from pigeon import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'pigeon' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``help(pigeon)`` and completion see them before first use)."""
    return sorted(__all__)

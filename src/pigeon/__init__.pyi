# pigeon's public names as type checkers and editors see them. At run time __init__.py hands
# them out on first use (``__getattr__``), so that no command imports them, or ``typing``,
# only to start. A name unknown here is an error to the type checker, as it is at run time.

from pigeon.aio.get import download, download_async
from pigeon.errors import (
    AddressInUse,
    ConnectionLost,
    ConnectionRefused,
    DatagramTooLong,
    DestinationExists,
    DownloadBusy,
    HttpStatusError,
    IntegrityError,
    InvalidAddress,
    InvalidHex,
    InvalidPort,
    LocalWriteError,
    NetworkError,
    NetworkUnreachable,
    NotDelivered,
    PigeonError,
    PortPermissionDenied,
    ProtocolError,
    TimedOut,
    UnknownHost,
    UsageError,
)
from pigeon.events import DownloadResult

__version__: str
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

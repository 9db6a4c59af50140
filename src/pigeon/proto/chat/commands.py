"""What a line typed into ``pigeon chat`` asks for: a message, or a slash command.

Pure: ``parse_line`` turns text into one small command record or a ``BadCommand`` with the
line to show; the session executes it. ``//text`` sends a message that starts with '/'.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pigeon.proto.address import Endpoint, parse_destination
from pigeon.proto.chat.ipmsg import DEFAULT_PORT


@dataclass(frozen=True, slots=True)
class Say:
    """Send ``text`` to the current peer."""

    text: str


@dataclass(frozen=True, slots=True)
class SwitchTo:
    """Make ``target`` (a name, ``ip`` or ``ip:port``) the current peer."""

    target: str
    plain: bool = False


@dataclass(frozen=True, slots=True)
class SendTo:
    """Send ``text`` to ``target`` without changing the current peer."""

    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``text`` to everyone (no acknowledgements)."""

    text: str


@dataclass(frozen=True, slots=True)
class Rename:
    """Take a new nick."""

    nick: str


@dataclass(frozen=True, slots=True)
class ShowPeers:
    """List the peers."""


@dataclass(frozen=True, slots=True)
class ShowHistory:
    """Show the messages of this session."""


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """Show the commands."""


@dataclass(frozen=True, slots=True)
class Quit:
    """Leave the chat."""


@dataclass(frozen=True, slots=True)
class OfferFiles:
    """Offer files or folders to the current peer."""

    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FetchOffer:
    """Download incoming offer ``index`` (None: every open offer) into ``dest``."""

    index: int | None
    dest: str


@dataclass(frozen=True, slots=True)
class CancelOffer:
    """Withdraw our offer ``index``, or decline an incoming one."""

    index: int


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A line that could not be understood; ``reason`` is the line to show."""

    reason: str


Command = (
    Say
    | SwitchTo
    | SendTo
    | Broadcast
    | Rename
    | ShowPeers
    | ShowHistory
    | ShowHelp
    | Quit
    | OfferFiles
    | FetchOffer
    | CancelOffer
    | BadCommand
)

HELP = """\
/peers                 who is on the LAN
/to NAME|IP[:PORT]     talk to that peer from now on (add 'plain' for nc or the tutorial's chat)
/msg NAME TEXT         one message to NAME
/all TEXT              a message to everyone (broadcast, not acknowledged)
/nick NAME             change your name
/send PATH...          offer files or folders to the current peer
/get N [DEST]          download offer N (/get all: every offer) into DEST (default .)
/cancel N              withdraw your offer N, or decline offer N made to you
/history               messages of this session
/help                  this list
/quit                  leave (Ctrl-D and Ctrl-C too)
//TEXT                 a message that starts with '/'"""

_NO_ARGS: dict[str, Command] = {
    "/peers": ShowPeers(),
    "/history": ShowHistory(),
    "/help": ShowHelp(),
    "/quit": Quit(),
}


def parse_line(line: str) -> Command | None:
    """The command in ``line``; None for an empty line."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    if text.startswith("//"):
        return Say(text[1:])
    if not text.startswith("/"):
        return Say(text)
    word, _sep, rest = text.partition(" ")
    word = word.lower()
    rest = rest.strip()
    if word in _NO_ARGS:
        if rest:
            return BadCommand(f"{word} takes no arguments")
        return _NO_ARGS[word]
    if word == "/to":
        parts = rest.split()
        if len(parts) == 1:
            return SwitchTo(parts[0])
        if len(parts) == 2 and parts[1].lower() == "plain":
            return SwitchTo(parts[0], plain=True)
        return BadCommand("usage: /to NAME|IP[:PORT] [plain]")
    if word == "/msg":
        target, _sep, message = rest.partition(" ")
        if not target or not message.strip():
            return BadCommand("usage: /msg NAME TEXT")
        return SendTo(target, message)
    if word == "/all":
        if not rest:
            return BadCommand("usage: /all TEXT")
        return Broadcast(rest)
    if word == "/nick":
        if not rest or len(rest) > 64:
            return BadCommand("usage: /nick NAME (1 to 64 characters)")
        return Rename(rest)
    if word == "/send":
        try:
            paths = tuple(shlex.split(rest))
        except ValueError as exc:
            return BadCommand(f"/send: {exc} (quote names with spaces)")
        if not paths:
            return BadCommand("usage: /send PATH...")
        return OfferFiles(paths)
    if word == "/get":
        parts = rest.split(maxsplit=1)
        if not parts or not (parts[0].isdigit() or parts[0].lower() == "all"):
            return BadCommand("usage: /get N [DEST] or /get all [DEST]")
        index = None if parts[0].lower() == "all" else int(parts[0])
        return FetchOffer(index, parts[1].strip() if len(parts) > 1 else ".")
    if word == "/cancel":
        if not rest.isdigit():
            return BadCommand("usage: /cancel N")
        return CancelOffer(int(rest))
    return BadCommand(f"unknown command {word} (try /help; //TEXT sends a line starting with '/')")


def peer_address(text: str) -> Endpoint:
    """A peer's address as written in an argument or ``/to``: ``HOST``, ``HOST:PORT``,
    ``[V6]:PORT`` or a bare IPv6 address. Without a port it is IP Messenger's 2425 (where
    peers listen; our own ``--port`` says only where we do).

    Raises:
        InvalidAddress: unreadable. InvalidPort: out of range, or 0 (nothing listens there).
    """
    # the one grammar of every command that reaches a peer (its ports 1-65535, its words)
    found, _ = parse_destination([text], default_port=DEFAULT_PORT, port_word=False, more=False)
    return Endpoint(found.host, found.port)

"""``pigeon chat``: a chat session — typed lines in, protocol events out, on one ``ChatNode``.

The view (terminal screen or plain lines) supplies the input lines and shows events; this
module turns lines into commands (``proto.chat.commands``) and commands into node actions.
Reading input never blocks receiving: both run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from pigeon.aio.attachments import Incoming, describe, fetch_file, fetch_folder
from pigeon.aio.chat_node import ChatNode, resolve_peer
from pigeon.config import ChatConfig
from pigeon.errors import PigeonError, UsageError
from pigeon.events import (
    HistoryEntry,
    HistoryView,
    MessageState,
    Notice,
    OfferEnd,
    OfferEnded,
    OfferView,
    PeerTable,
    ShowSession,
    TargetChanged,
    TransferKind,
    TransferNote,
)
from pigeon.fs.partfile import make_folder
from pigeon.proto.address import looks_like_address
from pigeon.proto.chat import commands as cmd
from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.events import (
    Addr,
    ChatEvent,
    Delivered,
    MessageIn,
    MessageOut,
    NotDelivered,
    Released,
)

HISTORY_LIMIT = 1000
FETCHES_PER_PEER = 4
"""Downloads from one host at a time; ``/get all`` of a large offer queues the rest, well
under the connection limit of the offering side (``attachments.MAX_CONNECTIONS``)."""
PENDING_OFFERS_PER_HOST = 64
PENDING_OFFERS = 1024
"""Offers kept for /get at most, from one host and from all; beyond, new ones are refused
(a peer sending offers in a loop would otherwise grow the table without end)."""
REFUSAL_EVERY = 5.0
"""Seconds between two 'refused' lines for one host's offers beyond the limit."""


def _local_path(text: str) -> Path:
    """A path the user typed (``~`` expanded); a string operation, no I/O."""
    return Path(text).expanduser()


class ChatSession:
    """The session state around a node: current peer, history, delivery outcome."""

    def __init__(self, cfg: ChatConfig, show: ShowSession) -> None:
        self.cfg = cfg
        self._show = show
        self.node: ChatNode | None = None
        self.target: Addr | None = None
        self.history: deque[HistoryEntry] = deque(maxlen=HISTORY_LIMIT)
        self._out: dict[int, HistoryEntry] = {}
        self.undelivered = 0
        self.refused: PigeonError | None = None
        """The first line refused (a bad command, a message too long, an unknown peer)."""
        self.incoming: dict[int, Incoming] = {}
        self._next_offer = 1
        self._lanes: dict[str, asyncio.Semaphore] = {}  # host -> its downloads in progress
        self._refused_at: dict[str, float] = {}  # host -> when its last offer was refused

    def observe(self, event: ChatEvent | Notice | TransferNote) -> None:
        """Record ``event`` in the history, then show it."""
        now = time.time()
        match event:
            case MessageIn():  # first: the common event of a busy chat
                if event.attachments:
                    self._offered_to_us(event)
                    if not event.text:
                        return  # the offer line says it all
                received = MessageState.RECEIVED
                self.history.append(HistoryEntry(now, False, event.peer.name, event.text, received))
                if self.target is None and not event.transient:
                    # the first to speak is who a reply goes to (not a one-shot: gone already)
                    self.target = event.peer.addr
                    self._show(event)
                    self._show(TargetChanged(event.peer))
                    return
            case MessageOut():
                state = MessageState.SENDING if event.acked else MessageState.SENT
                entry = HistoryEntry(now, True, event.peer.name, event.text, state)
                self.history.append(entry)
                self._out[event.msg_id] = entry
            case Delivered():
                self._settle(event.msg_id, MessageState.DELIVERED)
            case NotDelivered():
                self.undelivered += 1
                self._settle(event.msg_id, MessageState.NOT_DELIVERED)
            case Released():
                self._released(event)
                return
            case _:
                pass
        self._show(event)

    def _new_index(self) -> int:
        index = self._next_offer
        self._next_offer += 1
        return index

    def _offered_to_us(self, event: MessageIn) -> None:
        encoding = "utf-8" if event.encoding in ("utf-8", "ascii") else "gb18030"
        try:
            entries = files.decode_file_list(event.attachments, encoding)
        except files.FileListError as exc:
            self._show(OfferEnded(OfferEnd.REFUSED, event.peer, reason=str(exc)))
            return
        if not entries or event.packet_no is None:
            return
        host = event.peer.addr[0]
        pending = sum(1 for offer in self.incoming.values() if offer.peer[0] == host)
        if pending >= PENDING_OFFERS_PER_HOST or len(self.incoming) >= PENDING_OFFERS:
            now = time.monotonic()
            if now - self._refused_at.get(host, -REFUSAL_EVERY) >= REFUSAL_EVERY:
                self._refused_at[host] = now
                why = "too many offers are already waiting (/get or /cancel some)"
                self._show(OfferEnded(OfferEnd.REFUSED, event.peer, reason=why))
            return
        index = self._new_index()
        self.incoming[index] = Incoming(
            index, event.peer.addr, event.peer.name, event.packet_no, tuple(entries)
        )
        self._show(OfferView(index, event.peer, tuple(entries), True))

    def _released(self, event: Released) -> None:
        assert self.node is not None
        ours = self.node.book.offers.get(event.packet_no)
        if ours is not None and ours.peer[0] == event.peer.addr[0]:
            ours.released = True
            self._show(OfferEnded(OfferEnd.DECLINED, event.peer, ours.index))
            return
        for index, offer in list(self.incoming.items()):
            if offer.packet_no == event.packet_no and offer.peer[0] == event.peer.addr[0]:
                del self.incoming[index]
                self._show(OfferEnded(OfferEnd.WITHDREW, event.peer, index))

    async def _fetch(self, offer: Incoming, entry: files.FileEntry, dest: Path) -> None:
        assert self.node is not None
        request = self.node.messenger.request_packet
        note = self.node.show
        lane = self._lanes.setdefault(offer.peer[0], asyncio.Semaphore(FETCHES_PER_PEER))
        try:
            async with lane:
                make_folder(dest)
                if entry.is_dir:
                    await fetch_folder(offer, entry, dest, request, note)
                else:
                    await fetch_file(offer, entry, dest, request, note)
        except PigeonError as exc:
            note(
                TransferNote(
                    TransferKind.FAILED, offer.index, entry.name, offer.peer_name, detail=str(exc)
                )
            )

    def _settle(self, msg_id: int, state: MessageState) -> None:
        entry = self._out.pop(msg_id, None)
        if entry is None:
            return
        for index, item in enumerate(self.history):
            if item is entry:
                self.history[index] = entry._replace(state=state)
                return

    async def target_for(self, text: str, *, plain: bool = False) -> Addr:
        """The address ``text`` names: a known peer's name, an IP, or ``host:port``.

        Raises:
            UsageError: ambiguous or unknown name; InvalidAddress/UnknownHost from parsing.
        """
        assert self.node is not None
        found = self.node.messenger.find(text)
        if len(found) == 1:
            return found[0].addr
        if len(found) > 1:
            where = ", ".join(p.endpoint for p in found)
            raise UsageError(f"{text!r} is ambiguous: {where} (use IP:PORT)")
        if looks_like_address(text):
            point = cmd.peer_address(text)
            addr = await resolve_peer(point.host, point.port, families=self.node.families)
            if self.node.messenger.peer(addr) is None:
                self.node.messenger.add_peer(addr, plain=plain)
                if not plain:  # ask who it is; the answer names it
                    await self.node.perform(self.node.messenger.enter([addr]))
            elif plain:
                self.node.messenger.add_peer(addr, plain=True)
            return addr
        raise UsageError(f"no peer called {text!r} (see /peers, or use IP:PORT)")

    async def execute(self, command: cmd.Command) -> None:
        """Carry out one command; a user's mistake becomes a notice line."""
        assert self.node is not None
        node = self.node
        try:
            match command:
                case cmd.Say(text=text):
                    if self.target is None:
                        raise UsageError("no current peer: choose one with /to NAME|IP[:PORT]")
                    await node.send_text(self.target, text)
                case cmd.SwitchTo(target=target, plain=plain):
                    self.target = await self.target_for(target, plain=plain)
                    peer = node.messenger.peer(self.target)
                    assert peer is not None
                    self._show(TargetChanged(peer))
                case cmd.SendTo(target=target, text=text):
                    await node.send_text(await self.target_for(target), text)
                case cmd.Broadcast(text=text):
                    await node.broadcast_text(text)
                case cmd.Rename(nick=nick):
                    await node.perform(node.messenger.rename(nick, node.announce_targets()))
                    self._show(Notice(f"you are now {nick}", {"nick": nick}))
                case cmd.ShowPeers():
                    self._show(PeerTable(tuple(node.messenger.peers())))
                case cmd.ShowHistory():
                    self._show(HistoryView(tuple(self.history)))
                case cmd.ShowHelp():
                    self._show(Notice(cmd.HELP))
                case cmd.OfferFiles(paths=paths):
                    if self.target is None:
                        raise UsageError("no current peer: choose one with /to NAME|IP[:PORT]")
                    described = describe([_local_path(p) for p in paths])
                    offer = node.book.add(self._new_index(), self.target, described)
                    await node.offer(self.target, "", offer)
                    peer = node.messenger.peer(self.target)
                    assert peer is not None
                    self._show(OfferView(offer.index, peer, tuple(e for e, _p in described), False))
                case cmd.FetchOffer(index=index, dest=dest):
                    chosen = list(self.incoming) if index is None else [index]
                    if not chosen or any(i not in self.incoming for i in chosen):
                        raise UsageError(f"no open offer #{index} (offers to you: /get all)")
                    for i in chosen:
                        wanted = self.incoming.pop(i)
                        for entry in wanted.entries:
                            folder = _local_path(dest)
                            node.start_transfer(self._fetch(wanted, entry, folder))
                case cmd.CancelOffer(index=index):
                    ours = node.book.by_index(index)
                    if ours is not None and not ours.released:
                        ours.released = True
                        await node.release(ours.peer, ours.packet_no)
                        self._show(Notice(f"offer #{index} withdrawn"))
                    elif index in self.incoming:
                        theirs = self.incoming.pop(index)
                        await node.release(theirs.peer, theirs.packet_no)
                        self._show(Notice(f"offer #{index} declined"))
                    else:
                        raise UsageError(f"no open offer #{index}")
                case cmd.BadCommand(reason=reason):
                    raise UsageError(reason)
                case cmd.Quit():
                    pass
        except PigeonError as exc:
            if self.refused is None:
                self.refused = exc
            self._show(Notice(str(exc)))


class Ending(enum.Enum):
    """Why a chat's input loop ended."""

    QUIT = "quit"
    EOF = "eof"
    """End of input (Ctrl-D, the end of a script)."""
    SIGNAL = "signal"
    """SIGINT or SIGTERM."""


async def run_chat(
    cfg: ChatConfig, lines: AsyncIterator[str], show: ShowSession, *, strict: bool = False
) -> int:
    """Run a chat until ``/quit``, end of input (unless ``keep_open``), SIGINT or SIGTERM.

    ``strict`` (input from a script): a refused line makes the exit code non-zero. It is
    shown and the chat goes on either way; on a terminal the person saw it and typed again.

    Returns:
        With ``strict``, the exit code of the first refused line's error (2 for a usage
        error: an unknown command or peer, no current peer; 10 for a message too long; 5
        for an unknown host, ...). Else 12 (not delivered) when a message went
        unacknowledged, else 0.
    """
    session = ChatSession(cfg, show)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        async with ChatNode(cfg, session.observe, attachments=True) as node:
            session.node = node
            _greet(cfg, node, show)
            await node.enter()
            first = node.explicit[:1] or [p.addr for p in node.messenger.peers() if p.plain][:1]
            if first:
                session.target = first[0]
                peer = node.messenger.peer(first[0]) or node.messenger.add_peer(first[0])
                show(TargetChanged(peer))
            ended = await _drive(session, lines, stop)
            if ended is Ending.EOF:
                await node.settled()
                await node.transfers_done()
                if cfg.keep_open:
                    await stop.wait()
            await node.leave()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    if strict and session.refused is not None:
        return session.refused.exit_code
    return 12 if session.undelivered else 0


async def _drive(session: ChatSession, lines: AsyncIterator[str], stop: asyncio.Event) -> Ending:
    """Execute lines until quit, end of input or a signal; says which."""

    async def read() -> Ending:
        async for line in lines:
            command = cmd.parse_line(line)
            if command is None:
                continue
            if isinstance(command, cmd.Quit):
                return Ending.QUIT
            await session.execute(command)
        return Ending.EOF

    reader = asyncio.create_task(read())
    stopper = asyncio.create_task(stop.wait())
    done, _pending = await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (reader, stopper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if reader in done and not reader.cancelled():
        return reader.result()  # or what went wrong in it, raised
    return Ending.SIGNAL


def _greet(cfg: ChatConfig, node: ChatNode, show: ShowSession) -> None:
    how = "discovery by broadcast" if node.broadcasts else "no broadcast (peers given only)"
    moved = f" (port {cfg.port} was busy)" if node.port != cfg.port else ""
    show(
        Notice(
            f"chat on udp port {node.port}{moved} as {cfg.nick}; {how}; /help lists commands",
            {"port": node.port, "nick": cfg.nick, "discovery": bool(node.broadcasts)},
        )
    )

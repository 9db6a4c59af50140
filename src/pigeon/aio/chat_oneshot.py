"""``pigeon send`` and ``pigeon peers``: one message, or one look around, then exit.

Both are transient nodes: every packet, BR_ENTRY and BR_EXIT included, says NOADDLISTOPT, so
the chats they ask answer without listing them (no "joined"/"left" in anyone's chat). ``send``
exits 0 only once the peer acknowledged its message (plain peers: once sent). ``peers``
broadcasts BR_ENTRY, collects the ANSENTRY answers for a while, says BR_EXIT and lists who
answered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pigeon import errors
from pigeon.aio.attachments import describe
from pigeon.aio.chat_node import ChatNode, resolve_peer
from pigeon.config import ChatConfig
from pigeon.events import Notice, PeerTable, SessionEvent, ShowSession
from pigeon.proto.address import format_endpoint, looks_like_address
from pigeon.proto.chat.commands import peer_address
from pigeon.proto.chat.events import (
    Addr,
    ChatEvent,
    Delivered,
    MessageIn,
    NotDelivered,
    PeerChanged,
    Released,
)
from pigeon.proto.chat.ipmsg import DEFAULT_PORT
from pigeon.proto.text import escape_controls

POLL = 0.05


async def _find_by_name(node: ChatNode, name: str, within: float) -> Addr | None:
    """Announce ourselves and wait up to ``within`` for a peer called ``name`` to answer."""
    await node.enter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        found = node.messenger.find(name)
        if len(found) > 1:
            where = ", ".join(p.endpoint for p in found)
            raise errors.UsageError(f"{name!r} is ambiguous: {where} (give IP:PORT)")
        if found:
            return found[0].addr
        await asyncio.sleep(POLL)
    return None


async def run_send(
    cfg: ChatConfig,
    target: str,
    text: str,
    *,
    within: float,
    plain: bool,
    show: ShowSession,
    paths: tuple[Path, ...] = (),
) -> int:
    """Send one message to ``target`` (a name, ``ip`` or ``ip:port``).

    Returns:
        0 when acknowledged (plain peers: when sent).

    Raises:
        NotDelivered: no acknowledgement within ``within``.
        UnknownHost: no peer of that name answered and no host has that name.
    """
    outcome: list[ChatEvent | Notice] = []

    def watch(event: SessionEvent) -> None:
        if isinstance(event, Delivered | NotDelivered):
            outcome.append(event)
        if not isinstance(event, PeerChanged):  # who else answered is not this command's news
            show(event)

    if paths:
        return await _offer_files(cfg, target, text, within=within, show=show, paths=paths)
    async with ChatNode(cfg, watch, transient=True) as node:
        _say_if_moved(cfg, node, show)
        addr, announced = await _target(node, cfg, target, within, search=within)
        if plain:
            node.messenger.add_peer(addr, plain=True)
        introduced = not plain and await _introduce(node, cfg, addr, announced)
        try:
            msg_id = await node.send_text(addr, text)
            if not plain:
                await node.settled(within)
        finally:  # whoever had our entry hears that we go, whatever ended the wait
            if announced or introduced:
                await node.leave(None if announced else [addr])
    if plain:
        return 0
    if any(isinstance(e, Delivered) and e.msg_id == msg_id for e in outcome):
        return 0
    where = (
        f"{target}" if target == format_endpoint(*addr) else f"{target} ({format_endpoint(*addr)})"
    )
    raise errors.NotDelivered(
        f"message to {where} not acknowledged within {within:g} s "
        "(is pigeon chat or another IP Messenger running there?)"
    )


async def _introduce(node: ChatNode, cfg: ChatConfig, addr: Addr, announced: bool) -> bool:
    """Tell a peer given by address who we are (BR_ENTRY to it alone, NOADDLISTOPT as every
    packet of a one-shot): its chat then shows our nick, not our login name. Returns whether
    it did. Not to a peer found by name (it had our entry already), nor when we had to move
    off our port: a chat of ours holds it, and a client that tells peers apart by address
    alone (iptux) would take our entry and exit for that chat's."""
    if announced or (cfg.port and node.port != cfg.port):
        return False
    await node.enter([addr])
    return True


async def _resolve_name(node: ChatNode, name: str, port: int, within: float) -> Addr:
    try:
        return await resolve_peer(name, port, families=node.families)
    except errors.PigeonError:
        answered = f"no peer called {name!r} answered within {within:g} s"
        if not node.announce_targets():
            answered = f"no peer called {name!r} is known (broadcast is off)"
        raise errors.UnknownHost(f"{answered}, and no host has that name") from None


async def run_peers(cfg: ChatConfig, *, within: float, show: ShowSession) -> int:
    """Announce ourselves, list the IP Messenger peers that answer within ``within``."""

    def quiet(event: SessionEvent) -> None:
        # A message that arrives meanwhile was acknowledged, so it is shown, not dropped.
        if isinstance(event, Notice | MessageIn):
            show(event)

    async with ChatNode(cfg, quiet, transient=True) as node:
        _say_if_moved(cfg, node, show)
        if not node.announce_targets():
            raise errors.UsageError("nowhere to ask: give PEER addresses or allow broadcast")
        await node.enter()
        await asyncio.sleep(within)
        peers = tuple(p for p in node.messenger.peers() if not p.plain)
        await node.leave()
    show(PeerTable(peers))
    return 0


def _say_if_moved(cfg: ChatConfig, node: ChatNode, show: ShowSession) -> None:
    if cfg.port and node.port != cfg.port:
        show(
            Notice(
                f"udp port {cfg.port} is busy (pigeon chat running?); using {node.port}: "
                f"iptux answers only to port {cfg.port}, so its replies go there"
            )
        )


async def _target(
    node: ChatNode, cfg: ChatConfig, target: str, within: float, *, search: float
) -> tuple[Addr, bool]:
    """The address of ``target`` and whether we announced ourselves (for ``search`` seconds)
    to find it by name."""
    if looks_like_address(target):
        point = peer_address(target)
        return await resolve_peer(point.host, point.port, families=node.families), False
    found = None
    announced = bool(node.announce_targets())
    if announced:
        found = await _find_by_name(node, target, search)
    return found or await _resolve_name(node, target, DEFAULT_PORT, within), announced


async def _offer_files(
    cfg: ChatConfig,
    target: str,
    text: str,
    *,
    within: float,
    show: ShowSession,
    paths: tuple[Path, ...],
) -> int:
    """Offer ``paths`` to ``target`` and wait until every one was fetched (or it was declined)."""
    described = describe(list(paths))
    finished = asyncio.Event()
    declined: list[str] = []

    def watch(event: SessionEvent) -> None:
        if isinstance(event, Released):
            declined.append(escape_controls(event.peer.name))  # goes into the error line
            finished.set()
        if not isinstance(event, PeerChanged):
            show(event)

    async with ChatNode(cfg, watch, attachments=True, transient=True) as node:
        _say_if_moved(cfg, node, show)
        addr, announced = await _target(node, cfg, target, within, search=min(within, 3.0))
        introduced = await _introduce(node, cfg, addr, announced)
        try:
            offer = node.book.add(1, addr, described)
            node.server.on_complete = lambda _offer: finished.set()
            await node.offer(addr, text, offer)
            try:
                async with asyncio.timeout(within):
                    await finished.wait()
            except TimeoutError:
                pass
            if not offer.complete and not declined:
                offer.released = True
                await node.release(addr, offer.packet_no)
        finally:  # whoever had our entry hears that we go, whatever ended the wait
            if announced or introduced:
                await node.leave(None if announced else [addr])
    if declined:
        raise errors.NotDelivered(f"{declined[0]} declined the files")
    if not offer.complete:
        missing = ", ".join(f.entry.name for f in offer.files.values() if not f.fetched)
        raise errors.NotDelivered(
            f"not fetched within {within:g} s: {missing} (the offer was withdrawn)"
        )
    return 0

"""One-shots (``pigeon send``, ``pigeon peers``) ask without joining: answered, never listed."""

from __future__ import annotations

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import MessageIn, PeerChange, PeerChanged
from pigeon.proto.chat.messenger import ONESHOTS_KEPT, Messenger
from pigeon.proto.chat.outgoing import Identity
from tests.proto.test_messenger import deliver, events, make, packets

A = ("10.0.0.1", 2425)
ONE = ("10.0.0.9", 40000)


def one_shot() -> Messenger:
    ident = Identity(user="ops", host="ops-pc", nick="ops", version="1_test")
    return Messenger(ident, first_packet_no=5000, transient=True)


def test_a_one_shots_entry_is_answered_but_not_listed_and_its_exit_is_silent() -> None:
    chat, shot = make("alice"), one_shot()
    entry = shot.enter([A])
    assert all(p.has(ipmsg.NOADDLISTOPT) for p in packets(entry))
    at_chat = deliver(entry, chat, ONE, 0.0)
    assert not events(at_chat, PeerChanged)  # no "joined"
    [answer] = packets(at_chat)
    assert answer.mode == ipmsg.ANSENTRY and not answer.has(ipmsg.NOADDLISTOPT)
    at_shot = deliver(at_chat, shot, A, 0.1)
    assert [p.name for p in shot.peers()] == ["alice"]  # the one-shot learned who answered
    assert [e.change for e in events(at_shot, PeerChanged)] == [PeerChange.JOINED]
    _id, message = shot.send_text(A, "by name", 0.2)
    assert all(p.has(ipmsg.NOADDLISTOPT) for p in packets(message))
    at_chat = deliver(message, chat, ONE, 0.3)
    [msg] = events(at_chat, MessageIn)
    assert msg.text == "by name"
    leave = shot.leave([A])
    assert all(p.has(ipmsg.NOADDLISTOPT) for p in packets(leave))
    assert not events(deliver(leave, chat, ONE, 0.4), PeerChanged)  # no "left"
    assert chat.peers() == []


def test_a_chats_entry_still_joins_and_leaves() -> None:
    """The form that worked: a chat (not transient) is listed and its exit announced."""
    chat, other = make("alice"), make("bob")
    entry = other.enter([A])
    assert not any(p.has(ipmsg.NOADDLISTOPT) for p in packets(entry))
    [joined] = events(deliver(entry, chat, ONE, 0.0), PeerChanged)
    assert joined.change is PeerChange.JOINED
    [left] = events(deliver(other.leave([A]), chat, ONE, 0.1), PeerChanged)
    assert left.change is PeerChange.LEFT


def test_a_one_shot_answers_a_chat_starting_meanwhile_without_being_listed() -> None:
    chat, shot = make("alice"), one_shot()
    answers = deliver(chat.enter([ONE]), shot, A, 0.0)
    [answer] = packets(answers)
    assert answer.mode == ipmsg.ANSENTRY and answer.has(ipmsg.NOADDLISTOPT)
    assert not events(deliver(answers, chat, ONE, 0.1), PeerChanged)


def test_a_one_shots_message_shows_the_nick_its_entry_gave_until_its_exit() -> None:
    chat = make("alice")
    ident = Identity(user="root", host="ops-pc", nick="dave 大卫", version="1_test")
    shot = Messenger(ident, first_packet_no=7000, transient=True)
    deliver(shot.enter([A]), chat, ONE, 0.0)
    _id, message = shot.send_text(A, "hi", 0.1)
    [msg] = events(deliver(message, chat, ONE, 0.2), MessageIn)
    assert msg.peer.name == "dave 大卫" and msg.transient  # its nick, still not listed
    assert chat.peers() == []
    other = Messenger(
        Identity(user="bob", host="ops-pc", nick="bob", version="1_test"),
        first_packet_no=9000,
        transient=True,
    )
    _id, theirs = other.send_text(A, "from another user there", 0.25)
    [msg] = events(deliver(theirs, chat, ONE, 0.25), MessageIn)
    assert msg.peer.name == "bob"  # the same address, another user: not dave's nick
    deliver(shot.leave([A]), chat, ONE, 0.3)  # gone: a later one-shot from there starts anew
    _id, again = shot.send_text(A, "again", 0.4)
    [later] = events(deliver(again, chat, ONE, 0.5), MessageIn)
    assert later.peer.name == "root"  # no entry since: only the header's login name


def test_the_one_shots_remembered_are_bounded() -> None:
    chat = make("alice")
    for n in range(ONESHOTS_KEPT + 10):
        ident = Identity(user="u", host="h", nick=f"n{n}", version="1_test")
        shot = Messenger(ident, first_packet_no=100 * n, transient=True)
        deliver(shot.enter([A]), chat, (f"10.1.{n // 250}.{n % 250 + 1}", 2425), float(n))
    assert len(chat._oneshots) == ONESHOTS_KEPT and chat.peers() == []

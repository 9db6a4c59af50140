"""How many datagrams each sending host may have handled: token buckets with explicit time.

Each sending host has a token bucket; datagrams over it are dropped and counted. A host is an
IP address (``peers.host_key``; an IPv4-mapped IPv6 address is its IPv4 address). Not
(IP, port): a port costs nothing, and a flood spread over a thousand source ports is still
one flood. Not an IPv6 /64 either, though a host may pick any address of its /64: on a LAN
every IPv6 peer shares the link's /64, so a /64 key would put them all in one bucket; the
rotation of addresses is bounded below instead.

Buckets are kept for ``HOST_LIMIT`` hosts, so the per-host limit alone could be escaped by
rotating through more source addresses than that: each would find its bucket evicted and
start a full one. So a host's own bucket is not enough until it is *settled*: until
``SETTLE`` seconds after its first admitted datagram, every datagram it sends also takes a
token from one bucket shared by all newcomers (``NEWCOMER_SHARE`` times the per-host rate
and burst), and a host the shared bucket refuses is not tracked at all (so it cannot push
settled hosts out faster than the shared rate admits; the messenger does not add it to the
peer table either). Hosts not yet settled together get at most the shared rate, however
many addresses they use. Shared rather than "new hosts start with few tokens": a few tokens
each is still unbounded over unbounded addresses. A few times the per-host rate, so one
flooding newcomer (held to the per-host rate by its own bucket) cannot empty it for the
others; human chat rates and the entry exchange of a starting chat are far below it. Under
a flood from rotating addresses the settled peers keep their own buckets; a newcomer
competes with the flood until it settles. The flood is reported per host, and the
newcomers' drops as one ``Flooded`` with no host. An IPv6 sender rotating through the
addresses of its /64 is such a crowd of newcomers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from pigeon.proto.chat.events import Flooded

HOST_LIMIT = 1024
"""Hosts whose rate is tracked; the least recently heard is forgotten first."""
RATE_PER_SECOND = 200.0
"""Datagrams per second one host may send before the excess is dropped."""
RATE_BURST = 400.0
NEWCOMER_SHARE = 4.0
"""The bucket shared by hosts not yet settled has this many times a host's rate and burst."""
SETTLE = 10.0
"""Seconds after its first admitted datagram a host draws from the shared bucket too."""
FLOOD_REPORT_INTERVAL = 5.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    settled: float = -1e18
    """From this time on the host no longer draws from the shared bucket too."""
    dropped: int = 0
    reported: float = -1e18


class RateLimit:
    """The per-host buckets and the newcomers' shared one."""

    def __init__(self, rate: float = RATE_PER_SECOND, burst: float = RATE_BURST) -> None:
        """Args:
        rate, burst: per-host token bucket (datagrams per second, bucket size); hosts not
            yet settled share one of ``NEWCOMER_SHARE`` times these.
        """
        self.rate = rate
        self.burst = burst
        self.dropped = 0
        """Datagrams dropped so far, from every host."""
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # by host_key
        self._shared = _Bucket(NEWCOMER_SHARE * burst, -1e18)
        """The bucket every datagram of a host not yet settled also draws from."""

    def admit(self, host: str, now: float) -> list[Flooded] | None:
        """Take a token from ``host``'s bucket, and from the shared one while ``host`` is not
        settled; None when admitted, else what the drop causes (a report now and then)."""
        bucket = self._buckets.get(host)
        if bucket is None:
            return self._newcomer(host, now)
        self._buckets.move_to_end(host)
        tokens = bucket.tokens + (now - bucket.stamp) * self.rate
        bucket.tokens = tokens if tokens < self.burst else self.burst
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return self._dropped(bucket, host, now)
        if now < bucket.settled and not self._take_shared(now):
            return self._dropped(self._shared, "", now)
        bucket.tokens -= 1.0
        return None

    def _newcomer(self, host: str, now: float) -> list[Flooded] | None:
        """The first datagram of a host not tracked: admitted only by the shared bucket."""
        if not self._take_shared(now):
            return self._dropped(self._shared, "", now)  # not tracked: see the docstring
        self._buckets[host] = _Bucket(self.burst - 1.0, now, now + SETTLE)
        if len(self._buckets) > HOST_LIMIT:
            self._buckets.popitem(last=False)
        return None

    def _take_shared(self, now: float) -> bool:
        """Take a token from the newcomers' shared bucket; False when it is empty."""
        shared = self._shared
        burst = NEWCOMER_SHARE * self.burst
        tokens = shared.tokens + (now - shared.stamp) * NEWCOMER_SHARE * self.rate
        shared.tokens = tokens if tokens < burst else burst
        shared.stamp = now
        if shared.tokens < 1.0:
            return False
        shared.tokens -= 1.0
        return True

    def _dropped(self, bucket: _Bucket, host: str, now: float) -> list[Flooded]:
        """Count a datagram over ``bucket``'s limit; report the count now and then."""
        bucket.dropped += 1
        self.dropped += 1
        if now - bucket.reported < FLOOD_REPORT_INTERVAL:
            return []
        flooded = Flooded(host, bucket.dropped)
        bucket.dropped = 0
        bucket.reported = now
        return [flooded]

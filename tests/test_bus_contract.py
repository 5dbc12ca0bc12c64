"""The MessageBus contract, held by every bus: InMemoryBus (with the JSON codec) and RedisBus.

Each test runs twice, once per bus, through a small harness that knows the
few things the contract leaves to each bus: how a receiver *restarts*
(InMemoryBus: `redeliver_unacknowledged`; Redis: a new RedisBus on the same
namespace opens the address again) and how a foreign sender puts raw bytes in
an inbox.  RedisBus runs on a private redis-server (one per module, a fresh
namespace per test); without a binary its tests skip outside CI and fail
under CI=true.
"""

import asyncio
import os
import uuid

import pytest
import pytest_asyncio

from course_lib.agents import (
    BusEvent,
    InMemoryBus,
    JsonCodec,
    Message,
    MessageType,
    NotSerializableError,
    local_redis,
)
from course_lib.agents import redis_local

HANG = 10  # seconds: a bound for a hang, never a measure


def direct(content, sender="s", receiver="a"):
    return Message(MessageType.DIRECT, sender, receiver, content)


async def receiving(bus, address):
    """A task inside ``bus.receive(address)``, started and suspended there."""
    started = asyncio.Event()

    async def receive_one():
        started.set()
        return await bus.receive(address)

    waiter = asyncio.create_task(receive_one())
    await started.wait()
    return waiter


async def recv(bus, address):
    async with asyncio.timeout(HANG):
        return await bus.receive(address)


class MemoryHarness:
    name = "memory"

    def __init__(self):
        self.bus = InMemoryBus(codec=JsonCodec())

    async def restart(self, address):
        """The receiver at *address* restarts: what it had in hand comes again."""
        self.bus.redeliver_unacknowledged(address)
        return self.bus

    async def put_raw(self, address, data):
        self.bus.put_raw(address, data)

    async def duplicating_bus(self):
        """A bus on which the next `send_once` is delivered twice (fault injection)."""
        return InMemoryBus(codec=JsonCodec(), duplicate=1.0)

    async def send_once(self, bus, message):
        await bus.send(message)

    async def aclose(self):
        await self.bus.aclose()


class RedisHarness:
    name = "redis"

    def __init__(self, url):
        from course_lib.agents.redis_bus import RedisBus

        self.url = url
        self.namespace = f"test-{uuid.uuid4().hex[:10]}"
        self.make = lambda: RedisBus(url, self.namespace)
        self.bus = self.make()
        self.buses = [self.bus]

    async def restart(self, address):
        """A new process: a new RedisBus on the same namespace opens the address again."""
        await self.bus.aclose()
        self.bus = self.make()
        self.buses.append(self.bus)
        await self.bus.open(address)
        return self.bus

    async def put_raw(self, address, data):
        import redis.asyncio

        client = redis.asyncio.from_url(self.url)
        try:
            await client.xadd(f"{self.namespace}:inbox:{address}", {"m": data})
        finally:
            await client.aclose()

    async def duplicating_bus(self):
        return self.bus

    async def send_once(self, bus, message):
        # Redis has no fault injection: a sender whose reply was lost sends again.
        await bus.send(message)
        await bus.send(message)

    async def aclose(self):
        for bus in self.buses:
            await bus.aclose()


@pytest.fixture(scope="module")
def redis_url():
    if redis_local.find_redis_server() is None and os.environ.get("CI") != "true":
        pytest.skip("no redis-server (Debian/Ubuntu: sudo apt-get install redis-server)")
    with local_redis() as url:
        yield url


@pytest_asyncio.fixture(params=["memory", "redis"])
async def harness(request):
    if request.param == "memory":
        h = MemoryHarness()
    else:
        h = RedisHarness(request.getfixturevalue("redis_url"))
    try:
        yield h
    finally:
        await h.aclose()


@pytest.mark.asyncio
async def test_each_senders_messages_arrive_in_the_order_sent(harness):
    bus = harness.bus
    await bus.open("a")

    async def sender(name):
        for n in range(30):
            await bus.send(direct(n, sender=name))

    await asyncio.gather(sender("s1"), sender("s2"))
    got = [await recv(bus, "a") for _ in range(60)]
    for name in ("s1", "s2"):
        assert [m.content for m in got if m.sender == name] == list(range(30))
    await bus.acknowledge("a", *got)
    assert bus.waiting("a") == 0


@pytest.mark.asyncio
async def test_a_message_to_an_address_with_no_inbox_is_dropped(harness):
    bus = harness.bus
    await bus.send(direct("lost", receiver="nobody"))
    assert bus.dropped == 1
    await bus.open("nobody")
    await bus.send(direct("kept", receiver="nobody"))
    assert (await recv(bus, "nobody")).content == "kept"


@pytest.mark.asyncio
async def test_receive_waits_until_a_message_is_sent(harness):
    bus = harness.bus
    await bus.open("a")
    waiter = await receiving(bus, "a")              # the receiver is inside receive() and suspended...
    assert not waiter.done()          # ...because nothing was sent
    sent = direct("wake up")
    await bus.send(sent)
    async with asyncio.timeout(HANG):
        got = await waiter
    assert (got.id, got.content) == (sent.id, "wake up")


@pytest.mark.asyncio
async def test_receive_at_an_address_not_opened_raises_key_error(harness):
    with pytest.raises(KeyError):
        await harness.bus.receive("never-opened")


@pytest.mark.asyncio
async def test_an_acknowledged_message_does_not_come_again_after_a_restart(harness):
    bus = harness.bus
    await bus.open("a")
    await bus.send(direct("first"))
    first = await recv(bus, "a")
    await bus.acknowledge("a", first)
    bus = await harness.restart("a")
    await bus.send(direct("second"))
    assert (await recv(bus, "a")).content == "second"


@pytest.mark.asyncio
async def test_unacknowledged_messages_come_again_after_a_restart_first_and_in_order(harness):
    bus = harness.bus
    await bus.open("a")
    sent = [direct(n) for n in range(3)]
    for message in sent:
        await bus.send(message)
    got = [await recv(bus, "a") for _ in range(3)]
    await bus.acknowledge("a", got[1])            # handled; 0 and 2 were not
    bus = await harness.restart("a")
    await bus.send(direct("later"))
    again = [await recv(bus, "a") for _ in range(3)]
    assert [(m.id, m.content) for m in again[:2]] == [(sent[0].id, 0), (sent[2].id, 2)]
    assert again[2].content == "later"
    await bus.acknowledge("a", *again)


@pytest.mark.asyncio
@pytest.mark.parametrize("content", [{1, 2}, object()], ids=["set", "object"])
async def test_content_json_cannot_carry_fails_in_send_and_nothing_is_sent(harness, content):
    bus = harness.bus
    await bus.open("a")
    with pytest.raises(NotSerializableError, match="cannot be sent as JSON"):
        await bus.send(direct(content))
    await bus.send(direct("next"))
    assert (await recv(bus, "a")).content == "next"
    assert bus.waiting("a") == 0


@pytest.mark.asyncio
async def test_a_malformed_entry_is_skipped_and_reported_then_the_next_message_arrives(harness):
    bus = harness.bus
    events = []
    bus.subscribe(events.append)
    await bus.open("a")
    for raw in (b"not json at all", b'{"v": 99}', b"[1, 2]", b'{"v": 1, "type": "direct"}'):
        await harness.put_raw("a", raw)
    good = direct("after the garbage")
    await bus.send(good)
    got = await recv(bus, "a")
    assert (got.id, got.content) == (good.id, "after the garbage")
    assert [(e.kind, e.address) for e in events] == [("malformed", "a")] * 4
    assert all(isinstance(e, BusEvent) and e.detail for e in events)
    assert "not JSON" in events[0].detail and "wire version 99" in events[1].detail


@pytest.mark.asyncio
async def test_a_message_delivered_twice_keeps_its_id(harness):
    bus = await harness.duplicating_bus()
    await bus.open("a")
    sent = direct({"n": 1})
    await harness.send_once(bus, sent)
    first, second = await recv(bus, "a"), await recv(bus, "a")
    assert first.id == second.id == sent.id
    assert first.content == second.content == {"n": 1}
    await bus.acknowledge("a", first, second)
    if bus is harness.bus:
        bus = await harness.restart("a")
    else:
        assert bus.redeliver_unacknowledged("a") == 0
    await bus.send(direct("marker"))
    assert (await recv(bus, "a")).content == "marker"   # neither copy came again


@pytest.mark.asyncio
async def test_close_deletes_the_inbox_with_the_messages_still_in_it(harness):
    bus = harness.bus
    await bus.open("a")
    await bus.send(direct("old"))
    await bus.close("a")
    assert bus.waiting("a") == 0
    await bus.send(direct("to a closed inbox"))             # dropped
    await bus.open("a")
    await bus.send(direct("new"))
    assert (await recv(bus, "a")).content == "new"
    assert bus.dropped == 1


@pytest.mark.asyncio
async def test_acknowledging_twice_or_something_never_received_is_harmless(harness):
    bus = harness.bus
    await bus.open("a")
    await bus.send(direct(1))
    got = await recv(bus, "a")
    await bus.acknowledge("a", got)
    await bus.acknowledge("a", got)
    await bus.acknowledge("a", direct("never sent"))
    await bus.acknowledge("not-open", got)
    await bus.send(direct(2))
    assert (await recv(bus, "a")).content == 2

"""RedisBus against a real redis-server: passwords, TLS, a server that dies and
comes back, batching, and the things only a Redis inbox has.

The contract every bus keeps is in test_bus_contract.py.  Without a
redis-server binary these tests skip outside CI and fail under CI=true.
"""

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from course_lib.agents import NotSerializableError, local_redis
from course_lib.agents import redis_local
from test_bus_contract import HANG, direct, receiving, recv

needs_redis = pytest.mark.skipif(
    redis_local.find_redis_server() is None and os.environ.get("CI") != "true",
    reason="no redis-server (Debian/Ubuntu: sudo apt-get install redis-server)")

def fresh_namespace():
    return f"test-{uuid.uuid4().hex[:10]}"


def redis_bus(url, **options):
    from course_lib.agents.redis_bus import RedisBus

    return RedisBus(url, fresh_namespace(), **options)


class Server:
    """A redis-server on a fixed port, to kill and start again (local_redis picks a new port)."""

    def __init__(self, folder, *extra):
        self.folder = Path(folder)
        self.port = redis_local._free_port()
        self.extra = list(extra)
        self.process = None
        self.log = None

    def start(self, *, listen_on_port=True):
        binary = redis_local.find_redis_server()
        if binary is None:
            raise redis_local.RedisNotAvailable(redis_local.INSTALL_HINT)
        args = [binary, "--port", str(self.port) if listen_on_port else "0",
                "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
                "--daemonize", "no", "--logfile", "", *self.extra]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, cwd=self.folder)
        self.log = redis_local._ServerLog(self.process.stdout)
        self.log.start()
        self.log.settled.wait(20)
        if not self.log.ready:
            self.stop()
            raise redis_local.RedisNotAvailable(
                "redis-server did not start:\n" + "\n".join(self.log.startup_lines))

    def kill(self):
        """SIGKILL: no clean shutdown, connections just drop."""
        self.process.kill()
        self.process.wait()
        self.log.join(timeout=10)

    def stop(self):
        if self.process is not None:
            redis_local._stop(self.process)
            self.log.join(timeout=10)


@pytest.fixture(scope="module")
def redis_url():
    with local_redis() as url:
        yield url


# ---------------------------------------------------------------- passwords

@needs_redis
@pytest.mark.asyncio
async def test_a_password_in_the_url_works():
    with local_redis(password="p@ss:w/rd 密") as url:
        async with redis_bus(url) as bus:
            await bus.open("a")
            await bus.send(direct("hi"))
            assert (await recv(bus, "a")).content == "hi"
            assert "p@ss" not in repr(bus) and "***" in repr(bus)


@needs_redis
@pytest.mark.asyncio
async def test_a_wrong_password_fails_at_open_at_once_with_the_password_masked():
    from course_lib.agents.redis_bus import RedisAuthError

    with local_redis(password="right-one") as url:
        wrong = url.replace(":right-one@", ":wrong-one@")
        async with redis_bus(wrong) as bus:
            with pytest.raises(RedisAuthError) as caught:
                async with asyncio.timeout(HANG):   # refused, not retried until some timeout
                    await bus.open("a")
        text = str(caught.value)
        assert isinstance(caught.value, PermissionError)
        assert "refused" in text and ":***@127.0.0.1" in text and "wrong-one" not in text

        missing = url.replace(":right-one@", "")
        async with redis_bus(missing) as bus:
            with pytest.raises(RedisAuthError, match="needs a password"):
                async with asyncio.timeout(HANG):
                    await bus.open("a")


@needs_redis
@pytest.mark.asyncio
async def test_a_password_for_a_server_without_one_is_refused_clearly(redis_url):
    from course_lib.agents.redis_bus import RedisAuthError

    url = redis_url.replace("redis://", "redis://:needless@")
    async with redis_bus(url) as bus:
        with pytest.raises(RedisAuthError, match="no password set"):
            async with asyncio.timeout(HANG):
                await bus.open("a")


class Heard:
    """A bus subscriber that keeps the events; `next` waits for the next one."""

    def __init__(self):
        self.events = []
        self._changed = asyncio.Event()

    def __call__(self, event):
        self.events.append(event)
        self._changed.set()

    async def next(self):
        async with asyncio.timeout(HANG):
            await self._changed.wait()
        self._changed.clear()
        return self.events[-1]


# ---------------------------------------------------------------- lost connections

@needs_redis
@pytest.mark.asyncio
async def test_a_killed_server_restarted_on_its_port_is_reported_and_messages_flow_again(
        tmp_path):
    server = Server(tmp_path)
    server.start()
    heard = Heard()
    events = heard.events

    try:
        async with redis_bus(f"redis://127.0.0.1:{server.port}/0") as bus:
            bus.subscribe(heard)
            await bus.open("a")
            await bus.send(direct("before"))
            await bus.acknowledge("a", await recv(bus, "a"))
            waiter = asyncio.create_task(bus.receive("a"))   # blocked in Redis

            server.kill()
            assert (await heard.next()).kind == "disconnected"
            assert events[0].address == "a" and "127.0.0.1" in events[0].detail
            # The server comes back empty (no persistence): no stream, no group.
            await asyncio.to_thread(server.start)
            assert (await heard.next()).kind == "reconnected"

            await bus.send(direct("after"))   # the inbox was made again: not dropped
            async with asyncio.timeout(HANG):
                assert (await waiter).content == "after"
            assert [e.kind for e in events] == ["disconnected", "reconnected"]
            assert bus.dropped == 0
    finally:
        server.stop()


@needs_redis
@pytest.mark.asyncio
async def test_a_frozen_server_is_noticed_by_the_timeout_and_messages_flow_after_it(tmp_path):
    """SIGSTOP: the connection stays open but nothing answers (as when a cable is pulled)."""
    import signal

    server = Server(tmp_path)
    server.start()
    heard = Heard()
    events = heard.events

    try:
        async with redis_bus(f"redis://127.0.0.1:{server.port}/0",
                             block_ms=100, socket_timeout=0.5) as bus:
            bus.subscribe(heard)
            await bus.open("a")
            waiter = asyncio.create_task(bus.receive("a"))
            await bus.send(direct("before the freeze"))
            async with asyncio.timeout(HANG):
                assert (await waiter).content == "before the freeze"
            waiter = asyncio.create_task(bus.receive("a"))
            server.process.send_signal(signal.SIGSTOP)
            try:
                event = await heard.next()
                assert event.kind == "disconnected" and "no answer within 0.5 s" in event.detail
            finally:
                server.process.send_signal(signal.SIGCONT)
            assert (await heard.next()).kind == "reconnected"
            await bus.send(direct("after the thaw"))
            async with asyncio.timeout(HANG):
                assert (await waiter).content == "after the thaw"
            assert [e.kind for e in events] == ["disconnected", "reconnected"]
    finally:
        server.stop()


@needs_redis
@pytest.mark.asyncio
async def test_an_entry_whose_reply_was_lost_is_taken_back_after_one_idle_wait(redis_url):
    """Redis served a read whose reply never arrived (a connection given up on):
    the entry sits in this consumer's pending list; the bus takes it back."""
    import redis.asyncio

    from course_lib.agents import JsonCodec

    async with redis_bus(redis_url, block_ms=100) as bus:
        await bus.open("a")
        await bus.send(direct("first"))
        await bus.acknowledge("a", await recv(bus, "a"))
        key = f"{bus.namespace}:inbox:a"
        lost = direct("lost on the way")
        client = redis.asyncio.from_url(redis_url)
        try:
            await client.xadd(key, {"m": JsonCodec().encode(lost)})
            # Read as consumer "a", as the bus would, and drop the reply.
            await client.xreadgroup("readers", "a", {key: ">"}, count=10)
        finally:
            await client.aclose()
        got = await recv(bus, "a")
        assert (got.id, got.content) == (lost.id, "lost on the way")

@needs_redis
@pytest.mark.asyncio
async def test_with_persistence_unacknowledged_messages_survive_a_server_crash(tmp_path):
    server = Server(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        first = redis_bus(url)
        namespace = first.namespace
        await first.open("a")
        sent = direct("in hand when the server died")
        await first.send(sent)
        assert (await recv(first, "a")).id == sent.id       # received, never acknowledged
        server.kill()
        await first.aclose()                                 # the process dies too
        await asyncio.to_thread(server.start)
        from course_lib.agents.redis_bus import RedisBus

        async with RedisBus(url, namespace) as second:       # its restart
            await second.open("a")
            again = await recv(second, "a")
            assert (again.id, again.content) == (sent.id, sent.content)
    finally:
        server.stop()


@needs_redis
@pytest.mark.asyncio
async def test_a_send_that_cannot_reach_the_server_gives_up_with_the_url_masked():
    events = []
    with local_redis(password="sekret") as url:
        bus = redis_bus(url, retry_timeout=0.5)
        bus.subscribe(events.append)
        await bus.open("a")
    try:                                                     # the server is gone now
        with pytest.raises(ConnectionError) as caught:
            async with asyncio.timeout(HANG):
                await bus.send(direct("nowhere to go"))
        text = str(caught.value)
        assert "cannot reach Redis" in text and ":***@127.0.0.1" in text
        assert "sekret" not in text
        assert [e.kind for e in events] == ["disconnected"]
        assert "sekret" not in events[0].detail
    finally:
        await bus.aclose()


@pytest.mark.asyncio
async def test_giving_up_states_the_time_it_took_not_the_setting():
    """Each try waits socket_timeout for a server that never answers, so the
    retries take longer than retry_timeout: the message says how long."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        bus = redis_bus(f"redis://127.0.0.1:{silent.getsockname()[1]}",
                        retry_timeout=0.1, socket_timeout=0.5, block_ms=100)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(ConnectionError) as caught:
                async with asyncio.timeout(HANG):
                    await bus.send(direct("nobody answers"))
        finally:
            await bus.aclose()
        took = loop.time() - started
    stated = float(re.search(r"gave up after ([0-9.]+) s", str(caught.value)).group(1))
    assert 0.45 <= stated <= took  # two tries of 0.5 s: the second ends 0.5 s after the first


# ---------------------------------------------------------------- batching and hints

@needs_redis
@pytest.mark.asyncio
async def test_send_many_keeps_the_order_and_counts_what_it_dropped(redis_url):
    async with redis_bus(redis_url) as bus:
        await bus.open("a")
        batch = [direct(n, receiver="a" if n % 10 else "nobody") for n in range(300)]
        await bus.send_many(batch)
        expected = [m.content for m in batch if m.receiver == "a"]
        got = [await recv(bus, "a") for _ in expected]
        assert [m.content for m in got] == expected
        assert (bus.sent, bus.dropped) == (len(expected), 300 - len(expected))
        await bus.acknowledge("a", *got)


@needs_redis
@pytest.mark.asyncio
async def test_a_batch_with_one_message_json_cannot_carry_sends_nothing(redis_url):
    async with redis_bus(redis_url) as bus:
        await bus.open("a")
        with pytest.raises(NotSerializableError):
            await bus.send_many([direct("fine"), direct({1, 2})])
        await bus.send(direct("next"))
        assert (await recv(bus, "a")).content == "next"
        assert bus.sent == 1


@needs_redis
@pytest.mark.asyncio
async def test_waiting_counts_the_messages_fetched_and_not_yet_returned(redis_url):
    async with redis_bus(redis_url, count=4) as bus:
        await bus.open("a")
        assert bus.waiting("a") == 0 and bus.waiting("not-open") == 0
        await bus.send_many([direct(n) for n in range(6)])
        assert bus.waiting("a") == 0              # nothing fetched yet: a hint, not a count
        assert (await recv(bus, "a")).content == 0
        assert bus.waiting("a") == 3              # one read of 4
        for n in (1, 2, 3):
            assert (await recv(bus, "a")).content == n
        assert bus.waiting("a") == 0
        assert (await recv(bus, "a")).content == 4
        assert bus.waiting("a") == 1


# ---------------------------------------------------------------- what only Redis has

@needs_redis
@pytest.mark.asyncio
async def test_the_stream_keeps_only_messages_not_yet_handled(redis_url):
    import redis.asyncio

    async with redis_bus(redis_url) as bus:
        await bus.open("a")
        key = f"{bus.namespace}:inbox:a"
        client = redis.asyncio.from_url(redis_url)
        try:
            await client.xadd(key, {"other": b"field"})       # foreign: no "m" field
            await bus.send_many([direct(1), direct(2)])
            one = await recv(bus, "a")
            assert await client.xlen(key) == 2               # the foreign entry is gone
            await bus.acknowledge("a", one)
            assert await client.xlen(key) == 1
            await bus.acknowledge("a", await recv(bus, "a"))
            assert await client.xlen(key) == 0
            assert (await client.xpending(key, "readers"))["pending"] == 0
        finally:
            await client.aclose()


@needs_redis
@pytest.mark.asyncio
async def test_a_cancelled_receive_loses_nothing(redis_url):
    async with redis_bus(redis_url) as bus:
        await bus.open("a")
        for n in range(3):
            waiter = await receiving(bus, "a")
            sent = direct(n)
            await bus.send(sent)   # Redis may already have handed it to the waiting read...
            waiter.cancel()        # ...whose reply is then never read
            try:
                got = await waiter
            except asyncio.CancelledError:
                got = await recv(bus, "a")
            assert (got.id, got.content) == (sent.id, n)
            await bus.acknowledge("a", got)
        assert bus.waiting("a") == 0


@needs_redis
@pytest.mark.asyncio
async def test_closing_an_inbox_ends_a_receive_waiting_there(redis_url):
    async with redis_bus(redis_url) as bus:
        await bus.open("a")
        waiter = await receiving(bus, "a")
        await bus.close("a")
        with pytest.raises(KeyError, match="closed"):
            async with asyncio.timeout(HANG):
                await waiter


@needs_redis
@pytest.mark.asyncio
async def test_aclose_ends_a_receive_waiting_in_another_task(redis_url):
    bus = redis_bus(redis_url)
    await bus.open("a")
    waiter = await receiving(bus, "a")
    await bus.aclose()
    with pytest.raises(RuntimeError, match="aclose"):
        async with asyncio.timeout(HANG):
            await waiter


@needs_redis
@pytest.mark.asyncio
async def test_the_task_store_lives_under_the_namespace_and_outlives_the_bus(redis_url):
    from course_lib.agents.redis_bus import RedisBus

    async with redis_bus(redis_url) as bus:
        store = bus.task_store("coordinator")
        assert store.prefix == f"{bus.namespace}:coordinator:coordinator"
        assert await store.load() == []
        row = {"id": "t1", "state": "completed", "result": 42, "error": None}
        await store.save([row])
        namespace = bus.namespace
    async with RedisBus(redis_url, namespace) as again:
        assert await again.task_store("coordinator").load() == [row]


@needs_redis
@pytest.mark.asyncio
async def test_namespaces_keep_buses_on_one_server_apart(redis_url):
    async with redis_bus(redis_url) as one, redis_bus(redis_url) as other:
        await one.open("a")
        await other.send(direct("wrong world"))
        assert other.dropped == 1
        await one.send(direct("right world"))
        assert (await recv(one, "a")).content == "right world"


@needs_redis
def test_after_aclose_the_bus_works_again_in_a_new_loop_as_a_restart(redis_url):
    bus = redis_bus(redis_url)

    async def first_run():
        await bus.open("a")
        await bus.send(direct("unfinished"))
        message = await recv(bus, "a")
        await bus.aclose()
        await bus.aclose()                                   # twice is fine
        return message

    async def second_run():
        try:
            return await recv(bus, "a")
        finally:
            await bus.aclose()

    first = asyncio.run(first_run())
    again = asyncio.run(second_run())
    assert (again.id, again.content) == (first.id, "unfinished")


@needs_redis
def test_a_bus_in_use_in_another_loop_says_so(redis_url):
    bus = redis_bus(redis_url)

    async def use():
        await bus.open("a")

    async def close():
        await bus.aclose()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(use())
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(use())
        loop.run_until_complete(close())
    finally:
        loop.close()


# ---------------------------------------------------------------- TLS

def _make_certificate(folder):
    """A self-signed certificate for 127.0.0.1 with the openssl CLI; None without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@needs_redis
@pytest.mark.asyncio
async def test_rediss_urls_speak_tls(tmp_path):
    made = _make_certificate(tmp_path)
    if made is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the openssl CLI for a test certificate: apt-get install openssl")
        pytest.skip("no openssl CLI to make a self-signed certificate for a TLS server")
    cert, key = made
    server = Server(tmp_path, "--tls-port", "0", "--tls-cert-file", str(cert),
                    "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                    "--tls-auth-clients", "no", "--requirepass", "tls-secret")
    server.extra[1] = str(server.port)     # TLS on the fixed port, plain TCP off
    try:
        server.start(listen_on_port=False)
    except redis_local.RedisNotAvailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"this redis-server does not start with TLS (built without it?): {exc}")
    try:
        url = f"rediss://:tls-secret@127.0.0.1:{server.port}/0?ssl_ca_certs={cert}"
        async with redis_bus(url) as bus:
            await bus.open("a")
            await bus.send(direct("over TLS"))
            assert (await recv(bus, "a")).content == "over TLS"
    finally:
        server.stop()


# ---------------------------------------------------------------- arguments and imports

def test_arguments_are_checked_before_anything_connects():
    from course_lib.agents.redis_bus import RedisBus

    with pytest.raises(ValueError, match="redis://"):
        RedisBus("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="longer than a blocking read"):
        RedisBus("redis://127.0.0.1:6379/0", block_ms=5000, socket_timeout=2)
    with pytest.raises(ValueError, match="longer than a blocking read"):
        RedisBus("redis://127.0.0.1:6379/0?socket_timeout=1", block_ms=5000)
    with pytest.raises(ValueError, match="count"):
        RedisBus("redis://127.0.0.1:6379/0", count=0)


def test_the_agents_package_imports_without_redis_py():
    code = ("import sys; sys.modules['redis'] = None\n"
            "import course_lib.agents as agents\n"
            "try:\n    agents.RedisBus\nexcept ImportError:\n    print('lazy')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lazy"

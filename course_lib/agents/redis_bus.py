"""`RedisBus`: the `MessageBus` contract on Redis Streams, across processes and machines.

Each inbox is one Redis Stream, ``{namespace}:inbox:{address}``, read through
one consumer group (``readers``) by one consumer named after the address.
The stream holds exactly the messages not yet handled: `send` appends an
entry (``XADD``), `receive` reads new entries for this consumer
(``XREADGROUP``), and `acknowledge` removes them (``XACK`` then ``XDEL``).
What was read and not acknowledged stays in the group's *pending entries
list*, under the consumer's name; a process that opens the same address
again (a restarted agent) takes those entries back first (``XAUTOCLAIM``),
so nothing handed out is lost: delivery is at least once.

Example use::

    from course_lib.agents import Message, MessageType, local_redis
    from course_lib.agents.redis_bus import RedisBus

    with local_redis() as url:
        async with RedisBus(url) as bus:        # in each process
            await bus.open("a")
            await bus.send(Message(MessageType.DIRECT, "b", "a", "hi"))
            message = await bus.receive("a")    # waits in Redis, not in a sleep loop
            ...                                 # handle it
            await bus.acknowledge("a", message)

What the bus does when Redis misbehaves:

* A lost connection (server restarted, killed, network down) is retried
  with capped exponential backoff and jitter; a server that stops
  answering without closing the connection counts as lost after
  *socket_timeout* seconds.  The subscribers hear `BusEvent`
  "disconnected" once when calls start failing and "reconnected" when one
  works again.  `receive` keeps retrying (it waits anyway); `send`,
  `send_many`, `open`, `close` and `acknowledge` give up after
  *retry_timeout* seconds with a `ConnectionError` that names the server
  (its password masked).  A send retried after a lost reply may arrive
  twice; a copy keeps its ``id``, as the contract allows.
* A read whose reply never arrived (cancelled, timed out, cut off) may
  have moved entries to this consumer's pending list: the next read, and
  every read after an idle wait, takes back the pending entries that are
  not in hand.
* A server that comes back without its data has lost the streams and
  groups: the bus creates again the inboxes it has open.
* A refused password is not retried: `RedisAuthError` says so at once.

Writes are batched by group commit (`GroupCommit`): the ``XADD``s and
``XACK``/``XDEL``s of every caller that comes while a write is on its way go
together in the next pipeline, in the order they were called.  A hundred
agent jobs answering at once cost a few round trips, not two hundred.
* An entry that is not a message of this protocol (bad JSON, another wire
  version, no ``m`` field) is removed and reported as "malformed"; the
  reader goes on with the next entry.

``redis`` (redis-py) is imported by this module only; ``import
course_lib.agents`` works without it and loads `RedisBus` on first use.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError as RedisConnectionError,
    NoPermissionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from .bus import BusEvent, MessageBus
from .codec import JsonCodec, MalformedMessageError
from .groupcommit import GroupCommit
from .protocol import Message

if TYPE_CHECKING:
    from .redis_store import RedisTaskStore

__all__ = ["RedisBus", "RedisAuthError"]

T = TypeVar("T")

GROUP = "readers"
"""The consumer group of every inbox stream (one group, one consumer per address)."""

FIELD = b"m"
"""The one field of an entry: the message as the codec encodes it."""

# What a retry can cure: the server is not there (yet), or it is loading its data
# (BusyLoadingError is a ConnectionError).  AuthenticationError and
# AuthorizationError are ConnectionErrors too, but retrying cannot cure them:
# they are caught first.
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
_REFUSED = (AuthenticationError, AuthorizationError, NoPermissionError)


class RedisAuthError(PermissionError):
    """Redis refused the credentials in the URL (a wrong, missing or needless password)."""


def mask_password(url: str) -> str:
    """*url* with its password, if any, replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class _Inbox:
    """This process's side of one open inbox: what it fetched and handed out."""

    __slots__ = ("key", "consumer", "buffer", "handed", "lock", "cursor", "closed")

    def __init__(self, key: str, consumer: str) -> None:
        self.key = key
        # The address itself, so that a restarted process owns its earlier entries.
        self.consumer = consumer
        # Fetched and decoded, not yet returned by receive: (entry id, message), oldest first.
        self.buffer: deque[tuple[bytes, Message]] = deque()
        # Returned by receive, not yet acknowledged: message id -> its entry ids.
        self.handed: dict[str, list[bytes]] = {}
        self.lock = asyncio.Lock()  # one fetch at a time
        # Where XAUTOCLAIM goes on in this consumer's pending entries; None once
        # they are all taken back.  It starts at "0-0": the first receive after
        # open takes back what an earlier run of this address left unacknowledged.
        self.cursor: Optional[bytes] = b"0-0"
        self.closed: Optional[Exception] = None  # what a reader raises once it is gone


class _Write(NamedTuple):
    """One caller's write, waiting for the next pipeline."""

    entries: list[tuple[str, bytes]]  # (stream key, encoded message) to XADD
    inbox: Optional[_Inbox]  # where the acknowledged entries are
    handled: list[Message]  # the messages acknowledged
    ids: list[bytes]  # their entries, to XACK and XDEL
    generation: int  # the bus's, when it was queued


class RedisBus(MessageBus):
    """`MessageBus` on Redis Streams: one stream per inbox, at-least-once delivery.

    *url* is a redis-py URL: ``redis://host:port/db``, ``rediss://…`` for
    TLS, with a password as ``redis://:password@host:port/0``.  Streams are
    named ``{namespace}:inbox:{address}``, so buses with different
    namespaces on one server do not see each other.  *codec* turns messages
    into bytes (default `JsonCodec`).

    `receive` reads up to *count* entries at a time and keeps them in a
    local buffer (`waiting` says how many); a read waits in Redis for at
    most *block_ms* milliseconds and then simply reads again.  No call may
    wait longer than *socket_timeout* seconds for the server (default: the
    block time plus 5 s); this is what notices a server that went away
    without closing the connection (a cable pulled, a machine frozen).  It
    must be longer than the block time, or every read that finds nothing
    would count as a lost connection.

    *connect_timeout* bounds one connection attempt and *retry_timeout* how
    long `send`, `send_many`, `open`, `close` and `acknowledge` keep retrying
    a lost connection before they raise `ConnectionError` (`receive`
    retries for as long as it is awaited).  Other keyword arguments go to
    `redis.asyncio.from_url` (e.g. ``ssl_ca_certs=`` for a server with a
    private certificate authority).

    The connections belong to the event loop that first uses the bus;
    `aclose` releases them, after which the bus may be used again (in
    another loop too), as a restarted process would: what was received and
    not acknowledged comes again.  Each address is read by one process at a
    time; ``sent`` and ``dropped`` count messages added to an inbox and
    messages sent to an address with no inbox.
    """

    backoff_first = 0.05
    """The first pause after a failed call, in seconds; each next one doubles it..."""
    backoff_cap = 2.0
    """...up to this; each pause is drawn between half the value and the value (jitter)."""

    def __init__(self, url: str, namespace: str = "course", *, codec: Any = None,
                 block_ms: int = 5000, count: int = 100,
                 socket_timeout: Optional[float] = None, connect_timeout: float = 5.0,
                 retry_timeout: float = 30.0, **redis_options: Any) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        if type(block_ms) is not int or block_ms <= 0:
            raise ValueError(f"block_ms must be a positive int (milliseconds), got {block_ms!r}")
        if type(count) is not int or count <= 0:
            raise ValueError(f"count must be a positive int, got {count!r}")
        if socket_timeout is None:
            socket_timeout = block_ms / 1000 + 5.0
        in_url = parse_qs(urlsplit(url).query).get("socket_timeout")
        if in_url:  # redis-py lets the URL's value win
            socket_timeout = float(in_url[-1])
        if not socket_timeout > block_ms / 1000:
            raise ValueError(
                f"socket_timeout ({socket_timeout!r} s) must be longer than a blocking read "
                f"(block_ms={block_ms} ms), or every read that finds nothing would time out")
        for name, value in (("connect_timeout", connect_timeout),
                            ("retry_timeout", retry_timeout)):
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        if redis_options.pop("decode_responses", False):
            raise ValueError("decode_responses is not supported: the codec decodes the bytes")
        self.url = url
        self.namespace = namespace
        self.codec = JsonCodec() if codec is None else codec
        self.block_ms = block_ms
        self.count = count
        self.socket_timeout = float(socket_timeout)
        self.connect_timeout = float(connect_timeout)
        self.retry_timeout = float(retry_timeout)
        self._options = redis_options
        self._shown_url = mask_password(url)
        self._client: Optional[aioredis.Redis] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._generation = 0  # goes up at each aclose: calls from before it stop
        self._inboxes: dict[str, _Inbox] = {}
        self._keys: dict[str, str] = {}
        self._down_since: Optional[float] = None  # when calls started failing
        self._failures = 0
        self._writes: list[_Write] = []  # queued for the next pipeline
        self._commits = GroupCommit(self._write_round, name=f"RedisBus {namespace} writes")
        self.sent = 0
        self.dropped = 0

    # ------------------------------------------------------------ the contract

    async def open(self, address: str) -> None:
        """Create the inbox of *address*, or join it if it exists (its stream and group).

        The first `receive` after `open` returns first the entries that an
        earlier run with this address received and did not acknowledge.
        `RedisAuthError` if the server refuses the password.
        """
        key = self._key(address)
        await self._call(address, lambda client: self._create_group(client, key))
        if address not in self._inboxes:
            self._inboxes[address] = _Inbox(key, address)

    async def close(self, address: str) -> None:
        """Delete the inbox of *address* and the messages still in it.

        A `receive` waiting at *address* on this bus raises `KeyError`.
        """
        inbox = self._inboxes.pop(address, None)
        if inbox is not None:
            inbox.closed = KeyError(f"the inbox {address!r} was closed while receive waited")
        key = self._key(address)
        await self._call(address, lambda client: client.delete(key))

    async def send(self, message: Message) -> None:
        """Append *message* to the inbox of ``message.receiver``; drop it if there is none.

        The codec's error (`NotSerializableError`) comes before anything is sent.
        """
        await self.send_and_acknowledge((message,), None, ())

    async def send_many(self, messages: Iterable[Message]) -> None:
        """Send *messages* in order, in one round trip (a pipeline of ``XADD``).

        All are encoded first: a message that cannot be stops the whole batch
        before anything is sent.  If the connection fails midway, the whole
        batch is sent again, so its first messages may arrive twice.
        """
        await self.send_and_acknowledge(messages, None, ())

    async def receive(self, address: str) -> Message:
        """Wait for and return the next message in the inbox of *address*.

        `KeyError` if this bus has not opened *address* (or closes it
        meanwhile).  Cancelling a waiting `receive` loses nothing: entries
        whose reply it did not read are taken back by the next call.
        """
        inbox = self._inboxes.get(address)
        if inbox is None:
            raise KeyError(f"no inbox {address!r} is open on this bus: open it first")
        buffer = inbox.buffer
        while not buffer:
            async with inbox.lock:
                if not buffer:
                    await self._fetch(address, inbox)
        entry_id, message = buffer.popleft()
        entries = inbox.handed.get(message.id)
        if entries is None:
            inbox.handed[message.id] = [entry_id]
        else:  # the same message again (a resend): each entry must be acknowledged
            entries.append(entry_id)
        return message

    async def acknowledge(self, address: str, *messages: Message) -> None:
        """Mark *messages*, received at *address*, as handled: remove their entries.

        One round trip for all of them (``XACK`` and ``XDEL``).  Every entry
        handed out so far for a message's ``id`` is acknowledged with it.
        Messages this bus did not hand out, or already acknowledged, are ignored.
        """
        await self.send_and_acknowledge((), address, messages)

    async def send_and_acknowledge(self, messages: Iterable[Message], address: Optional[str],
                                   handled: Iterable[Message]) -> None:
        """`send_many` then `acknowledge`, in one round trip: one pipeline, in which
        Redis adds the new entries before it removes the handled ones (and
        the writes of other callers meanwhile go in the same pipeline)."""
        entries = [(self._key(m.receiver), self.codec.encode(m)) for m in messages]
        inbox = None if address is None else self._inboxes.get(address)
        handled = list(handled) if inbox is not None else []
        ids = list(dict.fromkeys(e for m in handled for e in inbox.handed.get(m.id, ())))
        if entries or ids:
            self._writes.append(_Write(entries, inbox, handled, ids, self._generation))
            await self._commits.commit()

    async def _write_round(self) -> None:
        """Send every queued write in one pipeline, in order."""
        writes, self._writes = self._writes, []
        if any(write.generation != self._generation for write in writes):
            raise RuntimeError("RedisBus.aclose() was called while this call waited")

        async def execute(client: aioredis.Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for write in writes:
                for key, data in write.entries:
                    pipe.execute_command("XADD", key, "NOMKSTREAM", "*", FIELD, data)
                if write.ids:
                    pipe.xack(write.inbox.key, GROUP, *write.ids)
                    pipe.xdel(write.inbox.key, *write.ids)
            return await pipe.execute()

        try:
            replies = await self._call(None, execute)
        finally:
            for write in writes:
                if write.ids:
                    # Forget them only now: a fetch that takes back pending entries in
                    # the meantime must still skip them (they are in hand, not lost).
                    self._forget(write.inbox, write.handled, set(write.ids))
        position = 0
        for write in writes:
            added = replies[position:position + len(write.entries)]
            dropped = added.count(None)  # NOMKSTREAM: no such stream, no inbox
            self.dropped += dropped
            self.sent += len(added) - dropped
            position += len(write.entries) + (2 if write.ids else 0)

    @staticmethod
    def _forget(inbox: _Inbox, handled: list[Message], done: set[bytes]) -> None:
        """The entries *done* of *handled* are acknowledged: no longer in hand."""
        in_hand = inbox.handed
        for message in handled:
            entries = in_hand.get(message.id)
            if entries is not None:
                rest = [e for e in entries if e not in done]
                if rest:
                    in_hand[message.id] = rest
                else:
                    del in_hand[message.id]

    def task_store(self, owner: str) -> RedisTaskStore:
        """The task records of the coordinator *owner*, kept in Redis under
        ``{namespace}:coordinator:{owner}`` (see `course_lib.agents.redis_store`),
        so that a restarted coordinator resumes its unfinished tasks.  Its calls
        retry a lost connection as `send` does."""
        from .redis_store import RedisTaskStore

        return RedisTaskStore(lambda operation: self._call(owner, operation),
                              f"{self.namespace}:coordinator:{owner}")

    def waiting(self, address: str) -> int:
        """Messages fetched for *address* and not yet returned by `receive` (a hint:
        more may wait in Redis)."""
        inbox = self._inboxes.get(address)
        return 0 if inbox is None else len(inbox.buffer)

    async def aclose(self) -> None:
        """Close the connections and forget what was fetched or handed out; safe to call twice.

        The inboxes stay in Redis and open for this bus: using it again is a
        restart, so what was received and not acknowledged comes again.  A
        call waiting in another task meanwhile raises `RuntimeError`.
        """
        self._generation += 1
        for address, inbox in self._inboxes.items():
            inbox.closed = RuntimeError("RedisBus.aclose() was called while receive waited")
            self._inboxes[address] = _Inbox(inbox.key, inbox.consumer)
        client, self._client, self._loop = self._client, None, None
        self._down_since, self._failures = None, 0
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> RedisBus:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        waiting = sum(len(inbox.buffer) for inbox in self._inboxes.values())
        return (f"<RedisBus {self._shown_url} namespace={self.namespace!r} "
                f"inboxes={len(self._inboxes)} waiting={waiting} "
                f"sent={self.sent} dropped={self.dropped}>")

    # ------------------------------------------------------------ reading

    async def _fetch(self, address: str, inbox: _Inbox) -> None:
        """Fill the empty buffer of *inbox* with at least one message (under its lock)."""
        buffer = inbox.buffer
        while not buffer:
            if inbox.closed is not None:
                raise type(inbox.closed)(*inbox.closed.args)
            entries = await self._call(address, lambda client: self._read(client, inbox),
                                       forever=True)
            if entries:
                await self._take(address, inbox, entries)

    async def _read(self, client: aioredis.Redis, inbox: _Inbox) -> list[Any]:
        """One read for *inbox*: a page of its pending entries while any are left, else new ones."""
        try:
            if inbox.cursor is not None:
                return await self._claim(client, inbox)
            # Should this read fail or be cancelled after Redis sent its reply,
            # those entries sit in our pending list unseen: take them back next.
            inbox.cursor = b"0-0"
            reply = await client.xreadgroup(GROUP, inbox.consumer, {inbox.key: ">"},
                                            count=self.count, block=self.block_ms)
            if reply:
                inbox.cursor = None
            # else nothing came within block_ms: the cursor stays at "0-0", so the
            # next read first looks in our pending list once.  A read whose
            # connection was given up after Redis had served it (a frozen server,
            # a network cut) leaves entries there; none stays longer than one idle wait.
        except ResponseError as exc:
            if inbox.closed is not None:  # closed here meanwhile: _fetch says so
                return []
            if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                raise
            # The stream is gone: a server restarted without its data, or another
            # process closed this inbox.  It is still open here, so make it again.
            await self._create_group(client, inbox.key)
            return []
        return reply[0][1] if reply else []

    async def _claim(self, client: aioredis.Redis, inbox: _Inbox) -> list[Any]:
        """Take back one page of this consumer's pending entries (XAUTOCLAIM, idle time 0)."""
        cursor, entries, *_ = await client.xautoclaim(
            inbox.key, GROUP, inbox.consumer, 0, inbox.cursor, count=self.count)
        inbox.cursor = None if cursor == b"0-0" else cursor
        if inbox.handed:  # in hand here, not lost: do not hand them out twice
            in_hand = {e for entries_of in inbox.handed.values() for e in entries_of}
            entries = [entry for entry in entries if entry[0] not in in_hand]
        return entries

    async def _take(self, address: str, inbox: _Inbox, entries: list[Any]) -> None:
        """Decode *entries* into the buffer; remove the malformed ones and report them."""
        decode = self.codec.decode
        good: list[tuple[bytes, Message]] = []
        bad: list[bytes] = []
        problems: list[str] = []
        for entry_id, fields in entries:
            if entry_id is None:  # Redis 6.2 lists an entry deleted while pending as nil
                continue
            if not fields:  # deleted from the stream while pending: nothing to deliver
                bad.append(entry_id)
                continue
            try:
                data = fields.get(FIELD)
                if data is None:
                    raise MalformedMessageError(
                        f"no {FIELD.decode()!r} field (fields: {sorted(fields)!r})")
                good.append((entry_id, decode(data)))
            except ValueError as exc:  # MalformedMessageError, or a codec's own ValueError
                bad.append(entry_id)
                problems.append(f"stream entry {entry_id.decode()} of {inbox.key!r} "
                                f"skipped: {exc}")
        inbox.buffer.extend(good)
        for problem in problems:
            self.report(BusEvent("malformed", address, problem))
        if bad:
            try:
                await self._call(address, lambda client: self._remove(client, inbox.key, bad),
                                 forever=True)
            except BaseException:  # cancelled: they stay pending; the next fetch takes them back
                if inbox.cursor is None:
                    inbox.cursor = b"0-0"
                raise

    # ------------------------------------------------------------ commands

    @staticmethod
    async def _create_group(client: aioredis.Redis, key: str) -> None:
        try:
            await client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):  # BUSYGROUP: it exists, fine
                raise

    @staticmethod
    async def _remove(client: aioredis.Redis, key: str, ids: list[bytes]) -> None:
        """Acknowledge and delete entries: the stream keeps only what is not handled."""
        pipe = client.pipeline(transaction=False)
        pipe.xack(key, GROUP, *ids)
        pipe.xdel(key, *ids)
        await pipe.execute()

    def _key(self, address: str) -> str:
        key = self._keys.get(address)
        if key is None:
            if not isinstance(address, str):
                raise TypeError(f"an address is a string, got {address!r}")
            key = self._keys[address] = f"{self.namespace}:inbox:{address}"
        return key

    # ------------------------------------------------------------ connection

    def _redis(self) -> aioredis.Redis:
        """The client (a connection pool) of the running loop; made on first use."""
        loop = asyncio.get_running_loop()
        client = self._client
        if client is None:
            # No socket_timeout here: redis-py would run every write in a task of
            # its own (asyncio.wait_for) and arm a timer for every read, about a
            # fifth of the time of a send to a local server (measured).  _call
            # bounds each whole call with one timer instead.
            options = {"socket_connect_timeout": self.connect_timeout, **self._options}
            client = self._client = aioredis.from_url(self.url, decode_responses=False, **options)
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "this RedisBus has connections in another event loop: await bus.aclose() "
                "there before using it in this one (or make one RedisBus per asyncio.run)")
        return client

    async def _call(self, address: Optional[str],
                    command: Callable[[aioredis.Redis], Awaitable[T]], *,
                    forever: bool = False) -> T:
        """Run ``command(client)``, retrying while the server cannot be reached.

        Each attempt may take `socket_timeout` seconds (a blocking read
        included); one that takes longer counts as a lost connection.
        Pauses grow from `backoff_first` to `backoff_cap` with jitter.  Gives
        up after `retry_timeout` seconds of failures with `ConnectionError`,
        unless *forever*.  A refused password raises `RedisAuthError` at once.
        """
        generation = self._generation
        attempt = 0
        first_failure: Optional[float] = None
        while True:
            if generation != self._generation:
                raise RuntimeError("RedisBus.aclose() was called while this call waited")
            client = self._redis()
            try:
                async with asyncio.timeout(self.socket_timeout):
                    result = await command(client)
            except _REFUSED as exc:
                raise self._refused(exc) from None
            except _TRANSIENT as exc:
                if generation != self._generation:  # aclose() cut the connection
                    await client.connection_pool.disconnect()
                    raise RuntimeError(
                        "RedisBus.aclose() was called while this call waited") from None
                now = asyncio.get_running_loop().time()
                if isinstance(exc, TimeoutError) and not str(exc):  # our own timer
                    exc = TimeoutError(f"no answer within {self.socket_timeout:g} s")
                self._failed(address, exc, now)
                pause = min(self.backoff_cap, self.backoff_first * 2 ** attempt)
                pause = random.uniform(pause / 2, pause)
                attempt += 1
                if first_failure is None:
                    first_failure = now
                if not forever and now + pause > first_failure + self.retry_timeout:
                    raise ConnectionError(
                        f"cannot reach Redis at {self._shown_url} (gave up after "
                        f"{now - first_failure:.1f} s of retries): {exc}") from None
                await asyncio.sleep(pause)
                continue
            if generation != self._generation:
                # aclose() came while this call was connecting: its pool is closed,
                # but the connection it made since is not.
                await client.connection_pool.disconnect()
            elif self._down_since is not None:
                await self._recovered(address, client)
            return result

    def _failed(self, address: Optional[str], exc: BaseException, now: float) -> None:
        self._failures += 1
        if self._down_since is None:
            self._down_since = now
            self.report(BusEvent(
                "disconnected", address,
                f"lost Redis at {self._shown_url}: {exc}; retrying with backoff "
                f"(pauses up to {self.backoff_cap:g} s)"))

    async def _recovered(self, address: Optional[str], client: aioredis.Redis) -> None:
        """The server answers again: make the inboxes it lost, then say so."""
        down_for = asyncio.get_running_loop().time() - self._down_since
        failures = self._failures
        self._down_since, self._failures = None, 0
        if self._inboxes:
            # A server restarted without its data has no streams: make the open
            # inboxes again now, so that other processes' sends are not dropped.
            # Best effort: a read that finds its group missing makes it too.
            pipe = client.pipeline(transaction=False)
            for inbox in self._inboxes.values():
                pipe.xgroup_create(inbox.key, GROUP, id="0", mkstream=True)
            try:
                async with asyncio.timeout(self.socket_timeout):
                    await pipe.execute(raise_on_error=False)
            except _TRANSIENT:  # TimeoutError is an OSError
                pass
        self.report(BusEvent(
            "reconnected", address,
            f"Redis at {self._shown_url} answers again after {failures} failed "
            f"call(s) in {down_for:.1f} s"))

    def _refused(self, exc: BaseException) -> RedisAuthError:
        text = str(exc)
        if urlsplit(self.url).password is None:
            advice = ("it needs a password: put it in the URL, "
                      "redis://:PASSWORD@host:port/0")
        elif "without any password configured" in text or "no password is set" in text:
            advice = "the server has no password set: remove it from the URL"
        else:
            advice = "the password in the URL (shown as ***) was refused"
        return RedisAuthError(f"Redis at {self._shown_url} refused the connection: "
                              f"{advice} ({text})")

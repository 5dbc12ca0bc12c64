"""The wire protocol: the codec, at-least-once delivery, and idempotent handlers.

Every test runs in memory (the same rules hold on Redis: see
test_bus_contract.py and test_redis_agents.py), on the virtual clock.
"""

import asyncio
from collections import Counter

import pytest

from course_lib import run_virtual
from course_lib.agents import (
    AgentCapability,
    BaseAgent,
    Broadcast,
    BusEvent,
    CalculatorError,
    Coordinator,
    EventKind,
    Goodbye,
    Heartbeat,
    InjectedFault,
    InMemoryBus,
    InvalidTaskError,
    JsonCodec,
    MalformedMessageError,
    Message,
    MessageType,
    NotSerializableError,
    PermanentTaskError,
    Registration,
    RemoteTaskError,
    StatusUpdate,
    TaskDeadlineError,
    TaskLostError,
    TaskRequest,
    TaskResult,
    TaskState,
    TaskTimeoutError,
)
from course_lib.agents.codec import decode_error, encode_error
from course_lib.agents.types import AgentStatus

SEARCH = AgentCapability.SEARCH


class Counting(BaseAgent):
    """Sleeps ``task["seconds"]`` and counts the times each task number ran."""

    def __init__(self, agent_id, capacity=1):
        super().__init__(agent_id, {SEARCH}, capacity=capacity)
        self.ran = Counter()

    async def process_task(self, task):
        self.ran[task.get("n")] += 1
        await asyncio.sleep(task.get("seconds", 1.0))
        return task.get("answer", {"n": task.get("n"), "by": self.id})


def now():
    return asyncio.get_running_loop().time()


def ends(c, task_id):
    return [e for e in c.event_log if e.kind is EventKind.TASK and e.task_id == task_id
            and e.new in (TaskState.COMPLETED, TaskState.FAILED)]


# ------------------------------------------------------------------ codec


CONTENTS = [
    (MessageType.REGISTER, Registration(capabilities=("search", "calculate"), capacity=2,
                                        incarnation="abc")),
    (MessageType.AGENT_STATUS, StatusUpdate(status=AgentStatus.IDLE, stale=(("t-1", 2),),
                                            heartbeat_interval=0.5, incarnation="abc")),
    (MessageType.HEARTBEAT, Heartbeat(incarnation="abc")),
    (MessageType.GOODBYE, Goodbye(incarnation="abc", reason="SIGTERM")),
    (MessageType.TASK_REQUEST, TaskRequest(task_id="t-1", task={"type": "search", "q": "中文"},
                                           attempt=3, incarnation="abc")),
    (MessageType.TASK_RESULT, TaskResult(task_id="t-1", attempt=3, result={"hits": [1, 2]})),
    (MessageType.BROADCAST, Broadcast(request_id="a/broadcast-1", content={"note": 1},
                                      capability="search")),
    (MessageType.DIRECT, {"free": ["form", 1, None, True]}),
]


@pytest.mark.parametrize("kind, content", CONTENTS, ids=[k.value for k, _ in CONTENTS])
def test_every_message_survives_the_json_codec(kind, content):
    codec = JsonCodec()
    message = Message(kind, "a", "b", content, 1.5)
    data = codec.encode(message)
    assert isinstance(data, bytes) and b'"v":1' in data
    assert codec.decode(data) == message


def test_enums_travel_as_their_values_and_tuples_as_lists():
    codec = JsonCodec()
    message = Message(MessageType.TASK_REQUEST, "c", "a", TaskRequest(
        task_id="t", task={"type": SEARCH, "pair": (1, 2)}, attempt=1))
    assert codec.decode(codec.encode(message)).content.task == {"type": "search", "pair": [1, 2]}


@pytest.mark.parametrize("error, rebuilt, permanent", [
    (ValueError("bad value"), ValueError, False),
    (ZeroDivisionError("division by zero"), ZeroDivisionError, False),
    (InjectedFault("on purpose"), InjectedFault, False),
    (CalculatorError("1 +"), CalculatorError, True),
    (InvalidTaskError("no"), InvalidTaskError, True),
    (TaskDeadlineError("late"), TaskDeadlineError, False),
])
def test_errors_come_back_as_their_own_class_when_it_is_known(error, rebuilt, permanent):
    codec = JsonCodec()
    message = Message(MessageType.TASK_RESULT, "a", "c", TaskResult(task_id="t", attempt=1,
                                                                     error=error))
    back = codec.decode(codec.encode(message)).content.error
    assert type(back) is rebuilt and str(back) == str(error)
    assert isinstance(back, PermanentTaskError) is permanent


@pytest.mark.parametrize("error", [StopIteration("x"), StopAsyncIteration("x")])
def test_a_stop_iteration_comes_back_as_a_remote_error_that_cannot_end_a_coroutine(error):
    rebuilt = decode_error(encode_error(error))
    assert type(rebuilt) is RemoteTaskError and str(rebuilt) == f"{type(error).__name__}: x"


def test_events_keep_a_bounded_summary_of_an_error_not_its_whole_text():
    class Loud(Counting):
        async def process_task(self, task):
            raise ValueError("x" * 1_000_000)

    async def main():
        async with Coordinator(max_attempts=3) as c:
            for agent_id in "abc":
                await Loud(agent_id).connect(c)
            task_id = await c.assign_task({"type": SEARCH})
            with pytest.raises(ValueError) as caught:
                await c.result(task_id)
            return len(str(caught.value)), [len(str(e.reason)) for e in c.event_log if e.reason]

    whole, reasons = run_virtual(main())
    assert whole == 1_000_000  # the error itself is kept, once, on the task
    assert len(reasons) >= 3 and max(reasons) < 400


class Unusual(BaseException):
    """Not an Exception: what a careless process_task might still raise."""


@pytest.mark.parametrize("error", [Unusual("odd"), GeneratorExit()])
def test_whatever_process_task_raises_is_a_failed_attempt(error):
    class Raising(Counting):
        async def process_task(self, task):
            raise error

    async def main():
        async with Coordinator(max_attempts=2) as c:
            agents = [Raising(agent_id) for agent_id in "ab"]
            for agent in agents:
                await agent.connect(c)
            task_id = await c.assign_task({"type": SEARCH})
            with pytest.raises(type(error)):
                await c.result(task_id)
            record = c.tasks[task_id]
            return (record.state, record.failures, c.get_stats()["reassigned"],
                    [agent.running for agent in agents])

    assert run_virtual(main()) == (TaskState.FAILED, 2, 0, [True, True])


class Hanging(Counting):
    """process_task never returns (its heartbeats go on)."""

    async def process_task(self, task):
        self.ran[task.get("n")] += 1
        await asyncio.Event().wait()


def test_an_attempt_past_its_timeout_fails_the_hung_agent_is_told_to_drop_it_and_another_retries():
    async def main():
        async with Coordinator(heartbeat_interval=1, heartbeat_timeout=3) as c:
            hung = Hanging("hung")
            await hung.connect(c)
            task_id = await c.assign_task({"type": SEARCH, "n": 1, "seconds": 1}, timeout=2)
            await asyncio.sleep(1)
            await Counting("fine").connect(c)
            result = await c.result(task_id)
            return (result, now(), c.agents["hung"].status, c.agents["hung"].in_flight,
                    hung._jobs, c.tasks[task_id].failures)

    result, finished, status, in_flight, jobs, failures = run_virtual(main())
    assert result == {"n": 1, "by": "fine"} and finished == 3.0  # timed out at 2, then 1 s
    assert (status, in_flight, jobs, failures) == ("idle", {}, {}, 1)


def test_a_task_whose_every_attempt_times_out_fails_with_task_timeout_error():
    async def main():
        async with Coordinator(task_timeout=1.5, max_attempts=2) as c:
            for agent_id in ("a", "b"):
                await Hanging(agent_id).connect(c)
            task_id = await c.assign_task({"type": SEARCH})
            with pytest.raises(TaskTimeoutError, match="ran longer than its 1.5 s timeout") as caught:
                await c.result(task_id)
            return now(), c.tasks[task_id].attempt, str(caught.value)

    finished, attempts, _ = run_virtual(main())
    assert (finished, attempts) == (3.0, 2)


def test_timeouts_must_be_positive_numbers():
    with pytest.raises(ValueError, match="task_timeout"):
        Coordinator(task_timeout=0)

    async def main():
        async with Coordinator() as c:
            for bad in (-1, 0, float("nan"), float("inf"), True, "1"):
                with pytest.raises(InvalidTaskError, match="timeout must be a positive number"):
                    await c.assign_task({"type": SEARCH}, timeout=bad)
            return len(c.tasks)

    assert run_virtual(main()) == 0


def test_raising_a_failed_tasks_error_again_and_again_does_not_grow_its_traceback():
    def depth(error):
        tb, n = error.__traceback__, 0
        while tb is not None:
            tb, n = tb.tb_next, n + 1
        return n

    async def main():
        async with Coordinator() as c:
            await Counting("a").connect(c)
            task_id = await c.assign_task({"type": SEARCH, "seconds": 1}, deadline=0.5)
            depths = []
            for _ in range(5):
                with pytest.raises(TaskDeadlineError) as caught:
                    await c.result(task_id)
                depths.append(depth(caught.value))
            return depths

    depths = run_virtual(main())
    assert depths == [depths[0]] * 5


def test_an_error_of_a_class_this_side_does_not_know_is_named_not_imported():
    class QuotaExceeded(PermanentTaskError):
        pass

    codec = JsonCodec()
    for error, permanent in ((QuotaExceeded("no more tokens"), True), (KeyError("k"), False)):
        if permanent:
            message = Message(MessageType.TASK_RESULT, "a", "c",
                              TaskResult(task_id="t", attempt=1, error=error))
            back = codec.decode(codec.encode(message)).content.error
            assert isinstance(back, RemoteTaskError) and isinstance(back, PermanentTaskError)
            assert back.type_name == "QuotaExceeded" and str(back) == "QuotaExceeded: no more tokens"
    # A class name that looks like a module path is just a name: nothing is imported.
    data = (b'{"v":1,"id":"x","type":"task_result","sender":"a","receiver":"c","timestamp":0,'
            b'"content":{"task_id":"t","attempt":1,"error":{"type":"os.system","message":"ls"}}}')
    back = codec.decode(data).content.error
    assert type(back) is RemoteTaskError and back.type_name == "os.system"


def test_what_json_cannot_carry_fails_in_the_sender_with_a_clear_error():
    codec = JsonCodec()
    for content in ({1, 2}, object(), {"f": lambda: 1}):
        with pytest.raises(NotSerializableError, match="cannot be sent as JSON.*plain data"):
            codec.encode(Message(MessageType.DIRECT, "a", "b", content))


@pytest.mark.parametrize("data, message", [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "a message is a JSON object"),
    (b'{"v": 2, "type": "direct"}', "wire version 2 is not 1"),
    (b'{"v": 1, "type": "shout", "sender": "a", "receiver": "b", "id": "1", "timestamp": 0,'
     b' "content": null}', "bad or missing field"),
    (b'{"v": 1, "type": "heartbeat", "sender": "a", "receiver": "b", "id": "1", "timestamp": 0,'
     b' "content": {"incarnation": "x", "extra": 1}}', "unknown heartbeat fields"),
    (b'{"v": 1, "type": "agent_status", "sender": "a", "receiver": "b", "id": "1",'
     b' "timestamp": 0, "content": {"status": "asleep"}}', "unknown agent status"),
    (b'{"v": 1, "type": "task_result", "sender": "a", "receiver": "b", "id": "1",'
     b' "timestamp": 0, "content": {"attempt": 1}}', "bad task_result content"),
])
def test_malformed_bytes_are_refused_with_the_reason(data, message):
    with pytest.raises(MalformedMessageError, match=message):
        JsonCodec().decode(data)


# ----------------------------------------------------------- the bus itself


def test_the_in_memory_bus_can_duplicate_and_redeliver_keeping_ids():
    async def main():
        bus = InMemoryBus(duplicate=1.0)
        await bus.open("a")
        await bus.send(Message(MessageType.DIRECT, "b", "a", "hi"))
        first, second = await bus.receive("a"), await bus.receive("a")
        assert first.id == second.id and bus.pending("a") == 2
        # A restart: what was received and not acknowledged comes again, first.
        await bus.send(Message(MessageType.DIRECT, "b", "a", "later"))
        assert bus.redeliver_unacknowledged("a") == 2
        again = await bus.receive("a")
        assert again.id == first.id and again.content == "hi"
        await bus.acknowledge("a", again)  # every copy of that id is handled now
        assert bus.pending("a") == 3  # the second copy is still waiting, and "later" twice
        return bus

    bus = run_virtual(main())
    assert (bus.duplicated, bus.redelivered) == (2, 2)


def test_closing_an_inbox_wakes_its_receiver_with_an_error():
    async def main():
        bus = InMemoryBus()
        await bus.open("a")
        receiver = asyncio.ensure_future(bus.receive("a"))
        await asyncio.sleep(0)
        await bus.close("a")
        with pytest.raises(KeyError, match="the inbox of 'a' was closed"):
            await receiver

    run_virtual(main())


def test_the_in_memory_bus_refuses_bad_chances():
    with pytest.raises(ValueError, match="duplicate must be a chance between 0 and 1"):
        InMemoryBus(duplicate=2)
    with pytest.raises(ValueError, match="redeliver must be a chance"):
        InMemoryBus(redeliver=float("nan"))


# -------------------------------------------------- idempotent handlers


def test_a_request_delivered_twice_to_an_agent_runs_once_and_is_answered_again():
    async def main():
        bus = InMemoryBus(duplicate=1.0)  # every message comes twice
        async with Coordinator(bus=bus) as c:
            agent = Counting("a")
            await agent.connect(c)
            ids = [await c.assign_task({"type": SEARCH, "n": n}) for n in range(3)]
            results = await c.gather(ids)
            await asyncio.sleep(0.5)
        return c, agent, ids, results

    c, agent, ids, results = run_virtual(main())
    assert agent.ran == {0: 1, 1: 1, 2: 1}  # each attempt ran once
    assert [r["n"] for r in results] == [0, 1, 2]
    assert all(len(ends(c, task_id)) == 1 for task_id in ids)
    ignored = [e for e in c.event_log if e.kind is EventKind.IGNORED]
    assert ignored and all("late or duplicate result" in e.reason for e in ignored)


def test_a_replayed_agent_request_is_one_task_and_gets_its_answer_again():
    class Asker(BaseAgent):
        async def process_task(self, task):
            return await self.request(SEARCH, {"n": 7, "seconds": 1})

    async def main():
        bus = InMemoryBus(duplicate=1.0)
        async with Coordinator(bus=bus) as c:
            searcher = Counting("s")
            await searcher.connect(c)
            await Asker("asker", {AgentCapability.CALCULATE}).connect(c)
            result = await c.result(await c.assign_task({"type": "calculate"}))
        return c, searcher, result

    c, searcher, result = run_virtual(main())
    assert result == {"n": 7, "by": "s"} and searcher.ran == {7: 1}
    asked = [task_id for task_id in c.tasks if "/request-" in task_id]
    assert asked == ["asker/request-1"]  # not "duplicate task id"


def test_a_replayed_result_or_registration_changes_nothing():
    async def main():
        async with Coordinator() as c:
            agent = Counting("a")
            await agent.connect(c)
            task_id = await c.assign_task({"type": SEARCH, "n": 1})
            result = await c.result(task_id)
            registration = Registration(capabilities=("search",), incarnation=agent.incarnation)
            for message in (Message(MessageType.REGISTER, "a", c.id, registration),
                            Message(MessageType.TASK_RESULT, "a", c.id, TaskResult(
                                task_id=task_id, attempt=1, result="forged"))):
                await c.message_bus.send(message)
                await c.message_bus.send(message)
            await asyncio.sleep(0.1)
            return c, task_id, result, c.get_stats()

    c, task_id, result, stats = run_virtual(main())
    assert c.results[task_id] == result == {"n": 1, "by": "a"}
    assert stats["completed"] == 1 and stats["ignored"] == 2
    registered = [e for e in c.event_log if e.kind is EventKind.AGENT and e.reason == "registered"]
    assert len(registered) == 1


def test_a_broadcast_delivered_twice_reaches_each_peer_once():
    class Announcer(Counting):
        async def process_task(self, task):
            return await self.broadcast({"hello": self.id})

    async def main():
        async with Coordinator(bus=InMemoryBus(duplicate=1.0)) as c:
            peers = [Counting("p1"), Counting("p2")]
            for peer in peers:
                await peer.connect(c)
            await Announcer("loud").connect(c)
            reached = await c.result(await c.assign_task({"type": SEARCH}, agent="loud"))
            await asyncio.sleep(0.1)
        return reached, [[m.content for m in peer.received] for peer in peers]

    assert run_virtual(main()) == (2, [[{"hello": "loud"}], [{"hello": "loud"}]])


def test_a_restarted_agent_gives_up_its_old_attempts_at_once():
    """A new incarnation of an agent (its process restarted) means the old one's
    work is lost: it goes to another agent now, not after the heartbeat timeout."""

    async def main():
        async with Coordinator(heartbeat_interval=1, heartbeat_timeout=30) as c:
            old = Counting("a")
            await old.connect(c)
            task_id = await c.assign_task({"type": SEARCH, "n": 1, "seconds": 100})
            await Counting("b").connect(c)
            await asyncio.sleep(2)
            old.crash()
            # The restarted process registers again, under the same id, as a new run.
            await c.message_bus.send(Message(MessageType.REGISTER, "a", c.id, Registration(
                capabilities=("search",), incarnation="second-run")))
            event = await _next_running(c, task_id)
        return event, c.agents["a"].incarnation

    (time, agent, from_agent), incarnation = run_virtual(main())
    assert (time, agent, from_agent, incarnation) == (2.0, "b", "a", "second-run")


def test_a_restarted_agent_serves_with_the_capabilities_and_capacity_it_registers_now():
    async def main():
        async with Coordinator() as c:
            await c.message_bus.open("a")
            for capabilities, capacity, run in [(("search",), 1, "first"),
                                                (("calculate", "translate"), 3, "second")]:
                await c.message_bus.send(Message(MessageType.REGISTER, "a", c.id, Registration(
                    capabilities=capabilities, capacity=capacity, incarnation=run)))
                await c.message_bus.receive("a")  # the coordinator's answer
            info = c.agents["a"]
            return (sorted(cap.value for cap in info.capabilities), info.capacity,
                    [i.id for i in c.find_agents("search")],
                    [i.id for i in c.find_agents("calculate")])

    assert run_virtual(main()) == (["calculate", "translate"], 3, [], ["a"])


def test_a_task_that_is_not_json_data_is_refused_when_it_is_assigned_on_a_json_bus():
    async def main():
        async with Coordinator(bus=InMemoryBus(codec=JsonCodec())) as c:
            await Counting("a").connect(c)
            with pytest.raises(InvalidTaskError, match="only JSON data"):
                await c.assign_task({"type": SEARCH, "n": object()})
            return await c.result(await c.assign_task({"type": SEARCH, "n": 2})), len(c.tasks)

    assert run_virtual(main()) == ({"n": 2, "by": "a"}, 1)


def test_a_request_without_a_string_task_id_is_ignored_as_malformed():
    async def main():
        bus = InMemoryBus(codec=JsonCodec())
        async with Coordinator(bus=bus) as c:
            await Counting("a").connect(c)
            for task_id in (True, "", None):
                await bus.send(Message(MessageType.TASK_REQUEST, "a", c.id, TaskRequest(
                    task_id=task_id, task={"type": "search"})))
            result = await c.result(await c.assign_task({"type": SEARCH, "n": 1}))
            ignored = [e.reason for e in c.event_log if e.kind is EventKind.IGNORED]
            return result, ignored, len(c.tasks)

    result, ignored, tasks = run_virtual(main())
    assert result == {"n": 1, "by": "a"} and tasks == 1
    assert len(ignored) == 3 and all("non-empty string task_id" in r for r in ignored)


class Crashing(Counting):
    """Dies (crash()) on a task with ``"poison"``."""

    async def process_task(self, task):
        if task.get("poison"):
            self.crash()
        return await super().process_task(task)


def test_a_task_lost_with_its_agent_max_lost_times_fails_instead_of_killing_them_all():
    async def main():
        async with Coordinator(heartbeat_interval=1, heartbeat_timeout=3, max_lost=2) as c:
            for agent_id in "abc":
                await Crashing(agent_id).connect(c)
            poison = await c.assign_task({"type": SEARCH, "poison": True})
            with pytest.raises(TaskLostError, match="lost 2 times") as caught:
                await c.result(poison)
            alive = [i.id for i in c.agents.values() if i.status is not AgentStatus.OFFLINE]
            fine = await c.result(await c.assign_task({"type": SEARCH, "n": 1}))
            return alive, fine, c.get_stats()["reassigned"], str(caught.value)

    alive, fine, reassigned, message = run_virtual(main())
    assert len(alive) == 1 and fine == {"n": 1, "by": alive[0]} and reassigned == 1
    assert "it may be what makes them crash" in message


def test_a_goodbye_does_not_count_as_a_lost_attempt():
    async def main():
        async with Coordinator(max_lost=1) as c:
            first = Counting("a")
            await first.connect(c)
            task_id = await c.assign_task({"type": SEARCH, "n": 1, "seconds": 5})
            await asyncio.sleep(1)
            await c.message_bus.send(Message(MessageType.GOODBYE, "a", c.id, Goodbye(
                incarnation=first.incarnation)))
            await Counting("b").connect(c)
            return await c.result(task_id), c.tasks[task_id].lost

    assert run_virtual(main()) == ({"n": 1, "by": "b"}, 0)


def test_max_lost_must_be_a_positive_integer():
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_lost"):
            Coordinator(max_lost=bad)


async def _next_running(c, task_id):
    started = asyncio.get_running_loop().create_future()

    def on_event(event):
        if event.kind is EventKind.TASK and event.task_id == task_id \
                and event.new is TaskState.RUNNING and not started.done():
            started.set_result((event.time, event.agent_id, event.from_agent))

    unsubscribe = c.subscribe(on_event)
    try:
        return await started
    finally:
        unsubscribe()


def test_a_goodbye_hands_the_agents_tasks_to_others_at_once():
    async def main():
        async with Coordinator(heartbeat_timeout=30) as c:
            leaver = Counting("a")
            await leaver.connect(c)
            task_id = await c.assign_task({"type": SEARCH, "n": 1, "seconds": 100})
            await Counting("b").connect(c)
            await asyncio.sleep(1)
            await leaver.say_goodbye("shutting down")
            await leaver.say_goodbye("shutting down")  # said twice: no harm
            event = await _next_running(c, task_id)
            return event, c.agents["a"].status, c.get_stats()["reassigned"]

    assert run_virtual(main()) == ((1.0, "b", "a"), "offline", 1)


def test_a_result_json_cannot_carry_fails_the_task_at_once_on_a_json_bus():
    class SetMaker(Counting):
        async def process_task(self, task):
            return {1, 2} if task.get("n") == 2 else None

    async def main():
        async with Coordinator(bus=InMemoryBus(codec=JsonCodec())) as c:
            for name in ("a", "b"):
                await SetMaker(name).connect(c)
            good = await c.result(await c.assign_task({"type": SEARCH, "n": 1}))
            bad_id = await c.assign_task({"type": SEARCH, "n": 2})
            with pytest.raises(NotSerializableError, match="cannot be sent as JSON"):
                await c.result(bad_id)
            return good, c.tasks[bad_id].attempt

    # NotSerializableError is permanent: one attempt, no retries on other agents.
    assert run_virtual(main()) == (None, 1)


def test_a_malformed_entry_in_the_coordinators_inbox_is_ignored_and_work_goes_on():
    async def main():
        bus = InMemoryBus(codec=JsonCodec())
        async with Coordinator(bus=bus) as c:
            await Counting("a").connect(c)
            bus.put_raw(c.id, b"not json at all")
            bus.put_raw(c.id, b'{"v": 99}')
            result = await c.result(await c.assign_task({"type": SEARCH, "n": 3}))
            ignored = [e.reason for e in c.event_log if e.kind is EventKind.IGNORED]
            return result, ignored

    result, ignored = run_virtual(main())
    assert result == {"n": 3, "by": "a"} and len(ignored) == 2
    assert all(r.startswith("malformed entry in the inbox of coordinator") for r in ignored)


def test_bus_connection_events_reach_the_event_log():
    async def main():
        bus = InMemoryBus()
        async with Coordinator(bus=bus) as c:
            bus.report(BusEvent("disconnected", "coordinator", "connection refused"))
            bus.report(BusEvent("reconnected", "coordinator", "after 3 tries"))
        return [(e.kind, e.reason) for e in c.event_log if e.kind is EventKind.BUS]

    assert run_virtual(main()) == [
        (EventKind.BUS, "bus disconnected: connection refused"),
        (EventKind.BUS, "bus reconnected: after 3 tries"),
    ]


def test_a_registration_the_coordinator_cannot_accept_is_answered_with_the_reason():
    async def main():
        bus = InMemoryBus(codec=JsonCodec())
        async with Coordinator(bus=bus) as c:
            await bus.open("newer")  # an agent of a newer course, with a capability we lack
            await bus.send(Message(MessageType.REGISTER, "newer", c.id, Registration(
                capabilities=("fly",), incarnation="x")))
            answer = await bus.receive("newer")
            return answer.content, list(c.agents)

    update, agents = run_virtual(main())
    assert update.status is AgentStatus.OFFLINE and agents == []
    assert update.reason.startswith("rejected: 'fly' is not an AgentCapability")


# ------------------------------------------------------------- structure


def _imports(path):
    """The course_lib.agents modules *path* imports when it runs (not for type checking)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:  # module level only: lazy imports inside functions are allowed
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add(node.module.split(".")[0] if node.module else "")
    return names - {""}


def test_the_agent_side_never_imports_the_coordinator_and_there_is_no_circle():
    from graphlib import TopologicalSorter
    from pathlib import Path

    import course_lib.agents as package

    folder = Path(package.__file__).parent
    graph = {p.stem: _imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on a circle
    assert order.index("agent") < order.index("coordinator")

    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            for name in graph.get(todo.pop(), ()):
                if name not in seen:
                    seen.add(name)
                    todo.append(name)
        return seen

    assert not reaches("agent") & {"coordinator", "hosting", "membership", "taskbook", "dispatch"}


NAMED_TUPLE_API = {"_replace", "_asdict", "_fields", "_make"}  # public despite the underscore


def test_no_module_in_the_package_reaches_into_anothers_privates():
    import ast
    from pathlib import Path

    import course_lib.agents as package

    offenders = []
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Name) \
                    and node.attr not in NAMED_TUPLE_API \
                    and node.value.id not in ("self", "cls") and node.value.id[0] != "_":
                offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert offenders == []


# ------------------------------------------------ stopping and resuming


def test_stop_lets_running_tasks_finish_then_says_goodbye_and_hands_back_the_rest():
    async def main():
        async with Coordinator(heartbeat_timeout=30) as c:
            leaver = Counting("a", capacity=2)
            await leaver.connect(c)
            short = await c.assign_task({"type": SEARCH, "n": 1, "seconds": 1})
            long = await c.assign_task({"type": SEARCH, "n": 2, "seconds": 50})
            await Counting("b").connect(c)
            await asyncio.sleep(0.5)
            await leaver.stop(grace=2)  # short finishes within the grace; long does not
            stopped_at = now()
            results = await c.gather([short, long])
            return stopped_at, results, leaver.running, c.agents["a"].status

    stopped_at, (short, long), running, status = run_virtual(main())
    assert stopped_at == 2.5 and short == {"n": 1, "by": "a"} and long == {"n": 2, "by": "b"}
    assert not running and status == "offline"


def test_a_task_submitted_again_under_its_own_id_is_the_same_task():
    async def main():
        async with Coordinator() as c:
            await Counting("a").connect(c)
            first = await c.assign_task({"type": SEARCH, "n": 1}, task_id="order-7")
            again = await c.assign_task({"type": "search", "n": 1}, task_id="order-7")
            with pytest.raises(InvalidTaskError, match="duplicate task id 'order-7'"):
                await c.assign_task({"type": SEARCH, "n": 2}, task_id="order-7")
            with pytest.raises(InvalidTaskError, match="non-empty string"):
                await c.assign_task({"type": SEARCH}, task_id="")
            return first, again, await c.result("order-7"), len(c.tasks)

    assert run_virtual(main()) == ("order-7", "order-7", {"n": 1, "by": "a"}, 1)


def test_task_rows_restore_finished_and_unfinished_tasks_and_deadlines_count_the_downtime():
    from course_lib.agents.taskbook import TaskBook

    async def main():
        async with Coordinator() as c:
            await Counting("a").connect(c)
            done = await c.assign_task({"type": SEARCH, "n": 1})
            failed = await c.assign_task({"type": "calculate"}, deadline=0.5)
            waiting = await c.assign_task({"type": SEARCH, "n": 3, "seconds": 9}, deadline=20)
            await c.gather([done, failed], return_exceptions=True)
            at = now()
            return [TaskBook.row(c.tasks[i], at, wall_now=1000.0)
                    for i in (done, failed, waiting)], at

    rows, at = run_virtual(main())
    events = []
    book = TaskBook(emit=events.append, default_attempts=3)
    # Restored 5 wall-clock seconds later: a deadline counts the time the coordinator was down.
    assert book.restore(rows, 100.0, wall_now=1005.0) == 1  # one unfinished task
    done, failed, waiting = (book.tasks[row["id"]] for row in rows)
    assert done.state is TaskState.COMPLETED and book.results[done.id] == {"n": 1, "by": "a"}
    assert type(book.failures[failed.id]) is TaskDeadlineError
    assert waiting.state is TaskState.QUEUED and [r.id for r in book.queue] == [waiting.id]
    assert waiting.deadline == 100.0 + (20 - at) - 5 and book.next_deadline() == waiting.deadline
    assert [e.reason for e in events] == ["resumed after a coordinator restart"]


def test_wait_for_agents_wakes_when_enough_are_online_or_says_how_many_came():
    async def main():
        async with Coordinator() as c:
            waiter = asyncio.ensure_future(c.wait_for_agents(2))
            await Counting("a").connect(c)
            await asyncio.sleep(1)
            assert not waiter.done()
            await Counting("b").connect(c)
            online = [info.id for info in await waiter]
            with pytest.raises(TimeoutError, match="2 of 3 agents came online within 5 s"):
                await c.wait_for_agents(3, timeout=5)
            return online, now()

    assert run_virtual(main()) == (["a", "b"], 6.0)


# ------------------------------------------------------------ the worker CLI


def test_the_worker_names_only_what_it_can_load():
    from course_lib.agents.worker import WorkerError, build_agent, load_agent_class
    from course_lib.agents import SearchAgent

    assert load_agent_class("SearchAgent") is SearchAgent
    assert load_agent_class("tests.test_agents_protocol:Counting").__name__ == "Counting"
    for spec, message in [
        ("Nope", "neither a built-in agent|既不是内置 Agent"),
        ("no_such_module_xyz:Agent", "no_such_module_xyz"),
        ("course_lib.agents:Coordinator", "BaseAgent"),
    ]:
        with pytest.raises(WorkerError, match=message):
            load_agent_class(spec)
    agent = build_agent("CalculatorAgent", "calc-9", capacity=3)
    assert (agent.id, agent.capacity) == ("calc-9", 3)
    with pytest.raises(WorkerError, match="capacity"):
        build_agent("CalculatorAgent", "calc-9", capacity=0)


def test_an_agent_whose_loop_never_ran_is_not_running_after_the_coordinator_stops():
    async def main():
        c = Coordinator()
        agent = Counting("a")
        async with c:
            await agent.connect(c)  # its loop is a task that has not taken a step yet
        return agent.running

    assert run_virtual(main()) is False

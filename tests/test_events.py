"""EventHub: the log, listeners and streams that the scheduler and the coordinator share."""

import asyncio

from course_lib.events import EventHub


def test_listeners_and_streams_see_events_only_while_attached():
    async def main():
        hub = EventHub(record=True)
        hub.emit(1)
        seen = []
        unsubscribe = hub.subscribe(seen.append)
        hub.emit(2)
        stream = hub.stream(live=True)
        assert await anext(stream) == 1  # the backlog first
        hub.emit(3)
        unsubscribe()
        hub.emit(4)
        streamed = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        hub.emit(5)  # nobody listens: logged only
        hub.close_streams()
        return hub.log, seen, streamed, hub.listeners, hub._streams

    log, seen, streamed, listeners, streams = asyncio.run(main())
    assert log == [1, 2, 3, 4, 5]
    assert seen == [2, 3] and streamed == [2, 3, 4]
    assert listeners == [] and streams == []


def test_without_a_log_events_reach_listeners_only():
    hub = EventHub(record=False)
    hub.emit("lost")
    seen = []
    hub.subscribe(seen.append)
    hub.emit("seen")
    assert hub.log is None and seen == ["seen"]

"""Interrupting a run_virtual cell in a real Jupyter kernel (issue 15, item 5).

In a notebook the kernel's loop is running, so run_virtual runs its loop in a
helper thread; the "interrupt kernel" button must stop that thread too.
"""

import pytest
from jupyter_client.manager import start_new_kernel

ENDLESS = """
import asyncio, threading
from course_lib import run_virtual

cleaned = []

async def endless():
    try:
        print("running", flush=True)  # the test interrupts once the coroutine runs
        while True:
            await asyncio.sleep(1)  # virtual time races on, forever
    finally:
        cleaned.append(True)

run_virtual(endless())
"""

AFTER = """
helpers = [t for t in threading.enumerate() if t.name == "virtual-clock"]
for t in helpers:
    t.join(20)
print(cleaned, [t.is_alive() for t in helpers])
"""


def _run(client, code, *, interrupt=None, timeout=60):
    """Execute *code*; call *interrupt* once it has printed. Return (status, ename, stdout)."""
    msg_id = client.execute(code)
    out, status, ename = [], None, None
    while status is None:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
            if interrupt is not None and "running" in content["text"]:
                interrupt()
                interrupt = None
        elif kind == "error":
            ename = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            status = "ok" if ename is None else "error"
    return status, ename, "".join(out)


@pytest.mark.timeout(120)
def test_the_interrupt_button_stops_a_run_virtual_cell_and_its_helper_thread():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        status, ename, out = _run(client, ENDLESS, interrupt=manager.interrupt_kernel)
        assert (status, ename) == ("error", "KeyboardInterrupt"), out
        status, _, out = _run(client, AFTER)
        assert status == "ok" and out.strip() == "[True] []", out  # cleaned up, no helper left
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

"""The check helpers the Python interop scripts share: run a named check and count it, expect a
condition, poll for one with a deadline, and the summary line.

Each check prints `ok   NAME` or `FAIL NAME` (with the traceback); `summary()` prints
`N passed, M failed` and returns the exit status (1 if any check failed).
"""

import asyncio
import sys
import time
import traceback

counts = {"passed": 0, "failed": 0}


async def check(name, coro_fn):
    """Runs one check; an AssertionError or any exception fails it."""
    try:
        await coro_fn()
    except Exception:  # noqa: BLE001 - every failure counts
        counts["failed"] += 1
        print(f"FAIL {name}", flush=True)
        traceback.print_exc(file=sys.stdout)
    else:
        counts["passed"] += 1
        print(f"ok   {name}", flush=True)


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


async def wait_until(what, cond, timeout=15.0, step=0.01):
    """Polls `cond` until it holds, up to `timeout` seconds; `what` says what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def failed():
    return counts["failed"]


def summary():
    print(f"{counts['passed']} passed, {counts['failed']} failed", flush=True)
    return 1 if counts["failed"] else 0

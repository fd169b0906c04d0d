"""Make `time.sleep` work in a Python process whose clock libfaketime shifts.

Put this folder, as an absolute path, on PYTHONPATH together with
LD_PRELOAD=<libfaketime.so.1>, a relative FAKETIME ("+<seconds>" or "+150d"),
FAKETIME_DONT_FAKE_MONOTONIC=1 and FAKETIME_FORCE_MONOTONIC_FIX=0 (FINDINGS: "libfaketime
0.9.10 and Python sleeps"). A relative PYTHONPATH is lost by every child started in another
folder, as the tests start the CLI.

With the monotonic clock left alone, libfaketime 0.9.10 still rewrites the absolute
CLOCK_MONOTONIC deadline that CPython 3.11's `time.sleep` hands to clock_nanosleep, which
then fails with `OSError: [Errno 22] Invalid argument`. A `select()` with a relative timeout
is not touched. Threading waits, queues and sockets keep working as they are.
FAKETIME_FORCE_MONOTONIC_FIX=0 is about speed: with the fix on (glibc's default) the timed
wait behind the GIL returns at once, and two busy threads took 3-10x as long.

Without libfaketime preloaded this file changes nothing, so the folder may stay on the path.
"""

from __future__ import annotations

import os
import select
import time


def _sleep(seconds: float) -> None:
    """`time.sleep` as a relative `select()` timeout, resumed until the time has passed."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        select.select([], [], [], left)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    time.sleep = _sleep

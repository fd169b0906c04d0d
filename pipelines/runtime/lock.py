"""One sync at a time on this machine: an OS lock (flock) on `sync.lock` in dlt's working
folder, released by the kernel even when the holder is killed."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pipelines.runtime.loading import pipelines_dir
from pipelines.runtime.settings import Busy


class SyncBusy(Busy):
    """Another sync holds the lock."""


@contextmanager
def sync_lock() -> Iterator[None]:
    """Hold the one-sync-at-a-time lock, or raise `SyncBusy` at once."""
    path = pipelines_dir() / "sync.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SyncBusy(
                f"Another sync is already running ({holder}); this one exits without "
                "touching anything. It will pick up where that one stops."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()

"""Breaking the environment on purpose, as an operator would: small or read-only filesystems
(tmpfs mounts), a full disk, a DuckDB file of a newer DuckDB, a port nobody listens on; and
the CLI as its own process, as a scheduler starts it."""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import CliResult, Workspace, cli_pythonpath

# A DuckDB file starts with a checksum of its first 4 KiB block (bytes 8 to 4096), then
# "DUCK" and the storage version as a little-endian uint64 at byte 12. The checksum is the
# XOR of each 8-byte word times a constant, started from 5381 (DuckDB's checksum.cpp).
_VERSION_AT, _HEADER_END, _CHECKSUM_FACTOR = 12, 4096, 0xBF58476D1CE4E5B9
_DETAILS = re.compile(r"Details in (/\S+?)\.(?:\s|$)")
# A record's first line: time, process id, thread, logger, level, message.
_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ (\d+) ")


@dataclass
class Run(CliResult):
    """What a CLI process printed and returned, and its process id."""

    pid: int = 0


def run_cli(workspace: Workspace, *args: str, **env: str) -> Run:
    """`python -m pipelines <args>` in its own process, the workspace's settings plus `env`."""
    tmp = workspace.root / "tmp"
    tmp.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", *args],
        cwd=workspace.root,
        # The temporary folder is the test's: the debug log falls back there.
        env={**os.environ, **workspace.env, "PYTHONPATH": cli_pythonpath(), "TMPDIR": str(tmp)}
        | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Run(process.returncode, out, err, process.pid)


def debug_log(result: CliResult) -> str:
    """The debug log the CLI's output names ("Details in <path>."): of a `Run`, only the
    records its own process wrote (each record's first line carries the pid)."""
    match = _DETAILS.search(result.output)
    assert match, f"the output names no debug log:\n{result.output}"
    text = Path(match[1]).read_text(encoding="utf-8")
    if not isinstance(result, Run):
        return text
    own, writer = [], None
    for line in text.splitlines():
        header = _RECORD.match(line)
        writer = int(header[1]) if header else writer
        if writer == result.pid:
            own.append(line)
    return "\n".join(own)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "2m") mounted at `path` for the block; always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(
            f"`mount -t tmpfs` at {path} failed ({mounted.stderr.strip()}): these tests fill "
            "and freeze real filesystems and need root (or CAP_SYS_ADMIN), as CI has",
            pytrace=False,
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def remount(path: Path, options: str) -> None:
    """Change a mounted tmpfs: "ro", "rw", "size=64m"."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a file in `folder` until its filesystem has at most `leave` bytes free (none:
    until it refuses another byte); the file's path."""
    descriptor, name = tempfile.mkstemp(dir=folder, prefix="filler-")
    try:
        if leave:
            os.write(descriptor, b"\0" * (shutil.disk_usage(folder).free - leave))
            return Path(name)
        for chunk in (b"\0" * (1 << 16), b"\0" * 4096, b"\0"):
            try:
                while True:
                    os.write(descriptor, chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    finally:
        os.close(descriptor)
    return Path(name)


def set_storage_version(path: Path, version: int) -> None:
    """Write `version` into a DuckDB file's header, with the checksum DuckDB checks."""
    data = bytearray(path.read_bytes())
    data[_VERSION_AT : _VERSION_AT + 8] = struct.pack("<Q", version)
    checksum = 5381
    for (word,) in struct.iter_unpack("<Q", bytes(data[8:_HEADER_END])):
        checksum ^= (word * _CHECKSUM_FACTOR) & 0xFFFF_FFFF_FFFF_FFFF
    data[0:8] = struct.pack("<Q", checksum)
    path.write_bytes(bytes(data))


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]

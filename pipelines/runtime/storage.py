"""A full disk or a folder the run cannot write, told apart from other failures and named.

Every run writes to two folders: the warehouse's (the folder of
`destination.duckdb.credentials`) and dlt's pipelines folder (`sync.pipelines_dir`: load
packages, state, the lock, the run log). When either is full, read-only, not writable or
cannot be created (a file sits where a folder should be), the operating system says so in
an `OSError`, and DuckDB in the text of its own errors ('Could not write file "...": No
space left on device'); dlt wraps both, sometimes several layers deep. `problem` finds that
cause in an exception chain and turns it into one sentence naming the folder, its setting
and what to do. `check` looks for the same conditions up front: a run (`require`) fails
before its first request rather than after downloading what it cannot store, and `status`
and `query`, which only read, answer and then say what the next run would meet.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.runtime import causes, settings
from pipelines.runtime.settings import SyncError

FULL = {errno.ENOSPC, errno.EDQUOT}
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}
NOT_A_FOLDER = {errno.ENOTDIR, errno.EEXIST}
_REASONS = {os.strerror(code): code for code in FULL | NOT_WRITABLE | {errno.ENOTDIR}}
# DuckDB names the file in double quotes, then the OS's words: 'Cannot open file "x": ...'.
_DUCKDB_FILE = re.compile(r'"(?P<path>[^"]+)": (?P<reason>' + "|".join(_REASONS) + ")")
_ANY_REASON = re.compile("|".join(re.escape(reason) for reason in _REASONS))
# Below this much free space `check` calls a disk full: DuckDB writes in blocks of 256 KiB,
# and a load writes its package before the warehouse.
MIN_FREE_BYTES = 1 << 20


class StorageError(SyncError):
    """A folder the run writes to is full, not writable or cannot be created."""


@dataclass(frozen=True)
class Folder:
    """A folder every run writes, with the setting that chooses it."""

    role: str
    path: Path
    key: str

    def or_set(self, to: str) -> str:
        """ ", or set <key> [<VARIABLE>] to <to>" for a configured folder; else nothing."""
        if not self.key:
            return ""
        return f", or set {self.key} [{settings.env_name(self.key)}] to {to}"


def folders() -> list[Folder]:
    """The warehouse folder (on DuckDB) and the pipelines folder, as configured; none is created."""
    found = []
    try:
        sync = settings.resolve(settings.SyncConfig)
        found.append(
            Folder("pipelines folder", _absolute(sync.pipelines_dir), "sync.pipelines_dir")
        )
        if sync.warehouse.strip().lower() == "duckdb":
            credentials = settings.resolve(settings.DuckDBConfig).credentials
            key = "destination.duckdb.credentials"
            found.append(Folder("warehouse folder", _absolute(credentials).parent, key))
    except settings.SettingError:
        pass  # the run reports the setting itself
    return found


def problem(error: BaseException) -> StorageError | None:
    """The storage failure somewhere in `error`'s chain, described; None if there is none."""
    for cause in causes.raw(error):
        found = _from_os_error(cause) or _from_text(str(cause))
        if found is not None:
            return found
    return None


def check(wanted: list[Folder] | None = None) -> StorageError | None:
    """What would stop the next run from writing: a folder that cannot be created, is not
    writable, or a disk with (almost) no free space; None when all is well."""
    for folder in folders() if wanted is None else wanted:
        existing = _existing_ancestor(folder.path)
        if not existing.is_dir():
            return _not_a_folder(folder, existing)
        if not os.access(existing, os.W_OK):
            code = errno.EROFS if _read_only_mount(existing) else errno.EACCES
            return _not_writable(folder, os.strerror(code))
        free = shutil.disk_usage(existing).free
        if free < MIN_FREE_BYTES:
            return _full(folder, f"{free // 1024:,} KiB free", None)
    return None


def require() -> None:
    """Raise what `check` finds, before a run makes its first request."""
    found = check()
    if found is not None:
        raise found


def _from_os_error(error: BaseException) -> StorageError | None:
    if not isinstance(error, OSError) or error.errno not in FULL | NOT_WRITABLE | NOT_A_FOLDER:
        return None
    path = Path(os.fsdecode(error.filename)) if error.filename else None
    if error.errno == errno.EEXIST and (path is None or path.is_dir()):
        return None  # only "a file where a folder should be" is about storage
    return _describe(error.errno, error.strerror or os.strerror(error.errno), path)


def _from_text(text: str) -> StorageError | None:
    match = _DUCKDB_FILE.search(text)
    if match:
        reason = match["reason"]
        return _describe(_REASONS[reason], reason, Path(match["path"]))
    bare = _ANY_REASON.search(text)
    return _describe(_REASONS[bare[0]], bare[0], None) if bare else None


def _describe(code: int, reason: str, path: Path | None) -> StorageError:
    folder = _folder_of(path)
    if code in FULL:
        return _full(folder, reason, path)
    if code in NOT_A_FOLDER:
        return _not_a_folder(folder, _existing_ancestor(path or folder.path))
    return _not_writable(folder, reason)


def _full(folder: Folder, reason: str, path: Path | None) -> StorageError:
    writing = f" writing {path}" if path else ""
    return StorageError(
        f"The disk holding the {folder.role} {folder.path} is full ({reason}{writing}): free "
        f"space on it{folder.or_set('a folder on a larger disk')}, and run again."
    )


def _not_writable(folder: Folder, reason: str) -> StorageError:
    return StorageError(
        f"The {folder.role} {folder.path} cannot be written ({reason}): make it writable for "
        f"this user{folder.or_set('a folder that is')}, and run again."
    )


def _not_a_folder(folder: Folder, file: Path) -> StorageError:
    return StorageError(
        f"The {folder.role} {folder.path} cannot be created: {file} is a file, not a folder. "
        f"Move that file{folder.or_set('another folder')}, and run again."
    )


def _folder_of(path: Path | None) -> Folder:
    """The configured folder `path` lies in (the deepest), else a folder of its own."""
    known = folders()
    if path is not None:
        absolute = _absolute(path)
        inside = [f for f in known if absolute == f.path or f.path in absolute.parents]
        if inside:
            return max(inside, key=lambda f: len(f.path.parts))
        return Folder("folder", absolute if absolute.is_dir() else absolute.parent, "")
    # The OS did not say which file (pyarrow does not): the folder with the least room left.
    if not known:
        return Folder("folder", Path.cwd(), "")
    return min(known, key=lambda f: shutil.disk_usage(_existing_ancestor(f.path)).free)


def _existing_ancestor(path: Path) -> Path:
    """`path`, or the nearest of its parents that exists (a file, if one blocks the way)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))

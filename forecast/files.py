"""Writing files safely: atomic writes (a temporary file renamed into place), directory
replacement, fsync, and the lock that orders a directory's swap and its readers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator


def write_atomically(out: Path, write: Callable[[str], None], suffix: str = "") -> None:
    """Write ``out`` through a temporary file beside it (``write(path)`` fills it, ``suffix``
    ends its name) renamed into place: a reader never sees half a file and a failure
    leaves any older file as it was. The file gets the umask's permissions (mkstemp makes
    0600; this is an ordinary file). An OSError propagates, the temporary file removed."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def write_synced(file: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``file`` and fsync it."""
    with open(file, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a directory: the names in it (renames, new files) reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_dir(new: Path, target: Path) -> None:
    """Put directory ``new`` at ``target``; an existing ``target`` is removed only after."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def locked(target: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on the parent directory itself: no lock file is left behind.
    ``shared``: a reader's lock, which waits for a writer's swap to end; none at all
    where the parent cannot be opened (it does not exist, say)."""
    try:
        fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        if not shared:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

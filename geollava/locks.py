"""One writer per folder: a training run and an evaluation hold a lock on their output folder, and a second one into
the same folder is refused at once, naming the lock and the process that holds it.

The lock is an OS file lock (flock) on `<folder>/.geollava.lock`, which also holds who took it: the kernel
releases it when its process ends, however it ends, so a lock left by a killed process is simply taken over (and
that is said). The file itself stays: removing it could let two processes lock two different files. On a file
system without working flock (some NFS and Lustre mounts) the lock is not taken, and that is said.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
LOCK_FILE = ".geollava.lock"


class FolderLockedError(RuntimeError):
    """Another process is writing into the folder."""


@contextmanager
def folder_lock(folder: str | Path, what: str):
    """Hold ``folder``'s lock while the block runs; ``what`` says who holds it (e.g. "geollava eval")."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderLockedError(f"{folder} is being written by {_holder(path)}: one run per output folder. Wait "
                                    f"for it to finish, or write elsewhere (--output-dir / output_dir). The lock: "
                                    f"{path}") from None
        except OSError as error:  # e.g. a Lustre or NFS mount without flock support
            log.warning("%s: cannot lock %s (%s): this folder's file system has no working file locks, so a second "
                        "run into it would not be refused; make sure only one writes there", folder, path,
                        error.strerror or error)
        previous = _read(path)
        if previous.get("pid"):
            log.info("%s: took over the lock left by %s (no longer running)", folder, _describe(previous))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                                 "command": " ".join(sys.argv)[:300],
                                 "since": dt.datetime.now().isoformat(timespec="seconds")}).encode())
        yield path
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _holder(path: Path) -> str:
    holder = _read(path)
    return _describe(holder) if holder else "another process"


def _describe(holder: dict) -> str:
    return (f"{holder.get('what', 'a process')} (pid {holder.get('pid')} on {holder.get('host')}, since "
            f"{holder.get('since')}: {holder.get('command', '')})")

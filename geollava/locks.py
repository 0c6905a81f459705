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

import yaml

log = logging.getLogger(__name__)
LOCK_FILE = ".geollava.lock"


class FolderLockedError(RuntimeError):
    """Another process is writing into the folder, or the folder holds another kind of run."""


KIND_FILE = ".geollava_kind"  # what the folder holds: its first writer's kind, kept
KINDS = {"geollava train": "an SFT run", "geollava grpo": "a GRPO run", "geollava eval": "an evaluation"}


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
        claim(folder, what)
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


READ_FILE = ".geollava.read"  # a checkpoint being loaded holds a shared lock on it; rotation takes it exclusively


@contextmanager
def reading(folder: str | Path):
    """Hold ``folder`` (a checkpoint) against deletion while it is read: rotation (save_total_limit) skips a
    checkpoint some process is loading, and deletes it at a later save. A missing folder raises FileNotFoundError."""
    fd = os.open(Path(folder) / READ_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # no working flock on this file system: read unguarded
            pass
        yield
    finally:
        os.close(fd)


@contextmanager
def unless_read(folder: Path):
    """True while no process reads ``folder`` (it is then held exclusively, for deleting it); False if one does."""
    path = Path(folder) / READ_FILE
    if not path.is_file():
        yield True
        return
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:
            pass
        yield True
    finally:
        os.close(fd)


def claim(folder: Path, what: str) -> None:
    """The folder is ``what``'s kind of run (an SFT run, a GRPO run, an evaluation), or becomes it: another kind
    writing into it would overwrite its checkpoints or resume from the other's optimizer, so it is refused."""
    kind = KINDS.get(what)
    if kind is None:
        return
    held = _read(folder / KIND_FILE).get("kind") or _kind_from_contents(folder)
    if held and held != kind:
        raise FolderLockedError(f"{folder} holds {held}; {kind} into it would mix the two (its checkpoints and "
                                f"final model overwritten, a resume from the other's optimizer): write {kind} "
                                "elsewhere (output_dir / --output-dir)")
    if not held:
        (folder / KIND_FILE).write_text(json.dumps({"kind": kind}) + "\n")


def _kind_from_contents(folder: Path) -> str | None:
    """The kind of a folder written before kinds were recorded: a run's saved config says SFT or GRPO (init_from
    is GRPO's), metrics say evaluation."""
    configs = [folder / "geollava_config.yaml", *sorted(folder.glob("checkpoint-*/geollava_config.yaml"))]
    for config in (c for c in configs if c.is_file()):
        try:
            values = yaml.safe_load(config.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        return KINDS["geollava grpo"] if isinstance(values, dict) and values.get("init_from") else \
            KINDS["geollava train"]
    return KINDS["geollava eval"] if (folder / "metrics.json").is_file() else None


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

"""A full disk, said as such: torch and safetensors report a failed write as an internal error ("enforce fail at
inline_container.cc", "PytorchStreamWriter failed writing file") or a bare OSError; the user needs to hear that the
disk holding the output folder is full, and that what was saved before it is intact."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

LOW_SPACE = 64 * 2**20  # bytes: a failed write with less than this left is taken for a full disk


def disk_full(error: BaseException, folder: str | Path) -> str | None:
    """The one line to print when ``error`` came from the disk holding ``folder`` filling up; else None."""
    if not isinstance(error, (OSError, RuntimeError)):
        return None
    said = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    if not said and not any(words in str(error) for words in ("inline_container", "failed writing", "write failed",
                                                               "No space left")):
        return None
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if not said and free > LOW_SPACE:
        return None
    return (f"the disk holding {folder} is full ({free / 2**20:.0f} MiB free; {type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}): free space there or write elsewhere; what was saved before is "
            "complete (resume_from_checkpoint: auto resumes from it)")

"""Peak memory of a CPU training process, as the benchmarks measure it: *allocated* memory is what glibc's malloc
has handed out and not got back (mallinfo2) — the CPU's counterpart of torch.cuda.max_memory_allocated, the
quantity `geollava plan` estimates — and resident memory (RSS) beside it, sampled every millisecond."""
from __future__ import annotations

import ctypes
import threading
import time

libc = ctypes.CDLL("libc.so.6")


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


libc.mallinfo2.restype = MallInfo2


def allocated() -> int:
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def snapshot() -> tuple[int, int]:
    return allocated(), resident()


class Peak:
    """While entered, the peaks of allocated and resident memory above ``since`` (a snapshot(); default: at
    entry), as ``.allocated`` and ``.resident`` once left."""

    def __init__(self, since: tuple[int, int] | None = None):
        self.since, self.allocated, self.resident = since, 0, 0

    def __enter__(self) -> Peak:
        self._start = self.since or snapshot()
        self._peak, self._done = list(snapshot()), False
        self._thread = threading.Thread(target=self._watch)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done:
            now = snapshot()
            self._peak = [max(self._peak[0], now[0]), max(self._peak[1], now[1])]
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._done = True
        self._thread.join()
        self.allocated, self.resident = (p - s for p, s in zip(self._peak, self._start))


def peak_of(code: str, cwd, timeout: int = 1200) -> tuple[int, int] | str:
    """(allocated, resident) peak bytes a Python script printed as `PEAK_BYTES allocated resident`, run in a process
    of its own; else the end of its error output."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    line = next((line for line in result.stdout.splitlines() if line.startswith("PEAK_BYTES")), None)
    if line is None:
        return result.stderr[-300:]
    allocated, resident = map(int, line.split()[1:3])
    return allocated, resident

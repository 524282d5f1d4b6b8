"""Wall time and peak memory of one command.

Peak memory is the command's own VmHWM, polled from /proc while it runs: the rusage of a child
starts from the forking parent's size (ru_maxrss survives exec), which would charge this harness's
memory to every command it measures.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from scripts.footage import ROOT


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run_measured(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of `args`; raises RuntimeError with stderr's tail on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _hwm_kib(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"failed: {' '.join(args)}: {err[-500:]}")
    return seconds, peak // 1024

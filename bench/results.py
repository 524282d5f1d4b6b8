"""bench/RESULTS.md, one section per benchmark: a benchmark run alone replaces its own section, in place,
and leaves every other section as it was."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone

from scripts.footage import ROOT

RESULTS = ROOT / "bench" / "RESULTS.md"


def cpu_model() -> str:
    """The CPU's model name. The machines this project is measured on change between sessions (an Intel
    Xeon, then an AMD EPYC where bench.speed's bare transcodes took 1.4-1.8x as long), and every figure
    moves with them."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    except OSError:  # not Linux
        return platform.processor() or "?"


def stamped(heading: str, command: str) -> str:
    """The heading line a section is written with: when, on which CPU and by which command it was measured."""
    return (f"{heading} (measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores of "
            f"{cpu_model()}, `{command}`)")


def write_section(heading: str, lines: list[str]) -> None:
    """Replace the section that starts with `heading` where it stands (or add it after the first section)."""
    text = RESULTS.read_text()
    body = "\n".join(lines).rstrip("\n") + "\n"
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        RESULTS.write_text(text[:start] + body + ("\n" + text[end + 1 :] if end >= 0 else ""))
        return
    first = text.find("\n## ")
    second = text.find("\n## ", first + 1) if first >= 0 else -1
    if second >= 0:
        RESULTS.write_text(text[: second + 1] + body + "\n" + text[second + 1 :])
    else:
        RESULTS.write_text(text.rstrip("\n") + "\n\n" + body)

"""bench/RESULTS.md, one section per benchmark: a benchmark run alone replaces its own section."""

from __future__ import annotations

from scripts.footage import ROOT

RESULTS = ROOT / "bench" / "RESULTS.md"


def write_section(heading: str, lines: list[str]) -> None:
    """Replace the section that starts with `heading` (or add it after the first section)."""
    text = RESULTS.read_text()
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    head, sep, rest = text.partition("\n## ")
    first_end = rest.find("\n## ")
    if first_end >= 0:
        rest = rest[: first_end + 1] + "\n".join(lines) + "\n" + rest[first_end + 1 :]
    else:
        rest = rest + "\n" + "\n".join(lines)
    RESULTS.write_text(head + sep + rest)

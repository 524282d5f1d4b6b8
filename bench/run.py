"""`python -m bench.run [PART ...]` (or `make bench`): run the benchmarks, each replacing its own section of
bench/RESULTS.md; every part when none is named. Parts: detection, quality, speed, restoration, split, soak."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable

from bench import detection, restoration, soak, speed, split
from bench.clips import build_all
from bench.figures import contact_sheet, psnr_chart
from bench.quality import evaluate
from bench.results import RESULTS, cpu_model, stamped, write_section
from scripts.footage import ROOT

BENCH = ROOT / "bench"
WORK = BENCH / "work"
AUTO, DELOGO = "ours, auto detection", "ffmpeg delogo, true box"
QUALITY = "## Quality on real footage with known watermarks"
SOAK = "## Soak (reliability)"


def machine() -> str:
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split(" Copyright")[0]
    return f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, {ffmpeg}"


def quality_section(results: list[dict]) -> list[str]:
    lines = [
        stamped(QUALITY, "python -m bench.run quality"),
        "",
        "Each clip is real footage (Debian's opencv-doc) with a mark composited on, so the clean original is known.",
        "PSNR/SSIM inside = inside the true box, against the clean clip; PSNR outside = the rest of the frame",
        "(no damage elsewhere); flicker = mean absolute frame-to-frame change inside the box (clean clip's in",
        "brackets); detection = per-frame precision / recall at IoU ≥ 0.5 and mean IoU against the truth.",
        "No LaMa weights can be had on this machine, so ours inpaints with OpenCV behind blend inversion; its",
        "detection is the default `auto` stack (text detector, the trained detector, edges, temporal evidence).",
        "",
        "![PSNR inside the region](psnr_inside.png)",
        "",
    ]
    goal = []
    for r in results:
        lines += [f"### {r['clip']}: {r['description']} ({r['frames']} frames)", "",
                  "| method | PSNR in | SSIM in | PSNR out | flicker (clean) | P / R / IoU | ×bare | RSS MiB |",
                  "|---|---|---|---|---|---|---|---|"]
        for label, m in r["methods"].items():
            det = f"{m['precision']} / {m['recall']} / {m['mean_iou']}" if "precision" in m else "–"
            lines.append(f"| {label} | {m['psnr_in']} | {m['ssim_in']} | {m['psnr_out']} | {m['flicker']} ({m['flicker_clean']}) "
                         f"| {det} | {m.get('ratio_to_bare', '–')} | {m.get('peak_rss_mib', '–')} |")
        notes = r["methods"][AUTO].get("notes") or []
        if notes:
            lines += ["", f"Detector note: {notes[0]}"]
        lines += ["", f"![contact sheet](sheet_{r['clip']}.png)", ""]
        auto, delogo = r["methods"][AUTO], r["methods"][DELOGO]
        goal.append(f"| {r['clip']} | {auto['psnr_in']} vs {delogo['psnr_in']} | "
                    f"{'yes' if auto['psnr_in'] > delogo['psnr_in'] else 'no'} | "
                    f"{round(auto['flicker'] / max(auto['flicker_clean'], 1e-6), 2)} |")
    lines += ["### Goal: automatic detection beats delogo-with-the-true-box inside the region; flicker ≤ 1.5× clean", "",
              "| clip | PSNR in, ours auto vs delogo | beats delogo | flicker / clean |", "|---|---|---|---|", *goal, ""]
    return lines


def soak_section(result: dict) -> list[str]:
    return [
        stamped(SOAK, "python -m bench.run soak"),
        "",
        f"{soak.SEQUENTIAL} sequential and {soak.CONCURRENT} concurrent `/runsync` jobs through `handler.py --rp_serve_api`,",
        "input over HTTP, output to moto's S3, every presigned result fetched and probed.",
        "",
        "| jobs | valid results | s per job | API server RSS after 5 jobs → end | growth | temp files left |",
        "|---|---|---|---|---|---|",
        f"| {result['jobs']} | {result['valid']} | {result['seconds_per_job']} | {result['rss_mib_after_5']} → "
        f"{result['rss_mib_end']} MiB | {result['rss_growth_pct']}% | {result['temp_leftovers']} |",
        "",
    ]


def quality() -> None:
    """Each quality clip through every method, with the PSNR chart and contact sheets."""
    clips = build_all(WORK / "clips")
    results = [evaluate(clip, WORK / "clips") for clip in clips]
    psnr_chart(results, BENCH / "psnr_inside.png")
    for clip, result in zip(clips, results, strict=True):
        contact_sheet(result, clip.clean, clip.truth, BENCH / f"sheet_{clip.name}.png")
    (WORK / "quality.json").write_text(json.dumps(results, indent=1))
    write_section(QUALITY, quality_section(results))


def soak_jobs() -> None:
    result = soak.run(WORK / "soak")
    (WORK / "soak.json").write_text(json.dumps(result, indent=1))
    write_section(SOAK, soak_section(result))


PARTS: dict[str, Callable[[], None]] = {
    "detection": lambda: detection.main([]),
    "quality": quality,
    "speed": lambda: speed.main([]),
    "restoration": lambda: restoration.main([]),
    "split": lambda: split.main([]),
    "soak": soak_jobs,
}


def main(argv: list[str]) -> None:
    unknown = [a for a in argv if a not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    for name in argv or list(PARTS):
        PARTS[name]()
    head, sep, rest = RESULTS.read_text().partition("\n## ")
    title = head.splitlines()[0] if head.strip() else "# Benchmark results"
    RESULTS.write_text("\n".join([
        title, "",
        f"Machine: {machine()}. Each section names the command that measured it and when; `make bench`",
        "(`.venv/bin/python -m bench.run`) runs them all, `python -m bench.run PART` one of them; raw numbers in",
        "`bench/work/`.", "", "",
    ]) + sep.lstrip("\n") + rest)


if __name__ == "__main__":
    main(sys.argv[1:])

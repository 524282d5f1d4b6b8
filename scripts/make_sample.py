"""Build `samples/sample.mp4`: 8 s of a real photo panned at 640x360, a tone, and a semi-transparent mark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.footage import ROOT, composite, mark_box, pan_frames, text_rgba, write_clip

FPS = 25
SECONDS = 8
SIZE = (640, 360)


def main(out: Path = ROOT / "samples" / "sample.mp4") -> None:
    mark = text_rgba("SAMPLE", 34)
    x, y = SIZE[0] - mark.shape[1] - 24, SIZE[1] - mark.shape[0] - 20
    frames = (composite(f, mark, x, y, 0.55) for f in pan_frames("building.jpg", SIZE, FPS * SECONDS, FPS))
    write_clip(frames, out, FPS, audio=True)
    truth = {"box": mark_box(mark, x, y), "opacity": 0.55}
    out.with_suffix(".truth.json").write_text(json.dumps(truth))
    print(f"wrote {out} ({out.stat().st_size} bytes), watermark box {truth['box']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples" / "sample.mp4")

"""Command line: `python -m app INPUT -o OUTPUT [--report R.json] ...` with a progress bar.

INPUT is a path, an http(s) URL or `s3://bucket/key` (credentials from the `BUCKET_*` env), a video
or a still image. The CLI's user is the machine's owner: local files and private addresses are allowed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import get_args

from pydantic import ValidationError
from tqdm import tqdm

from app import logs, registry
from app.config import DeviceName, EncoderName, ProcessOptions, Settings
from app.errors import WatermarkRemovalError
from app.report import Report
from app.service import Progress, WatermarkRemovalService
from app.storage import s3
from app.storage.fetch import fetch_url, name_from_url, safe_filename


def _region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"region must be X,Y,W,H integers, got {text!r}") from exc
    return x, y, w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Remove watermarks from a video.")
    parser.add_argument("input", help="a video or image: a path, an http(s) URL or s3://bucket/key")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--preview", type=Path, help="write a picture of a few frames with the masks outlined and "
                        "the cleaned crop beside the original (.jpg or .png)")
    parser.add_argument("--detector", choices=list(registry.DETECTORS), default="auto",
                        help="; ".join(f"{k}: {e.summary}" for k, e in registry.DETECTORS.items()))
    parser.add_argument("--inpainter", choices=list(registry.FILLERS), default="auto",
                        help="; ".join(f"{k}: {e.summary}" for k, e in registry.FILLERS.items()))
    parser.add_argument("--region", type=_region, action="append", default=[], metavar="X,Y,W,H",
                        help="inpaint this box in every frame (repeatable); skips detection")
    parser.add_argument("--no-multiscale", action="store_true", help="single-scale YOLO detection")
    parser.add_argument("--no-unblend", action="store_true", help="inpaint semi-transparent marks instead of undoing them")
    parser.add_argument("--scales", type=lambda t: [float(v) for v in t.split(",")], default=None, metavar="S,S,...",
                        help="YOLO multi-scale factors (default 1.0,0.8,1.2)")
    parser.add_argument("--device", choices=get_args(DeviceName), default=None)
    parser.add_argument("--encoder", choices=get_args(EncoderName), default=None)
    parser.add_argument("--max-bbox-percent", type=float, default=None)
    parser.add_argument("--detection-stride", type=int, default=None)
    parser.add_argument("--yolo-batch-size", type=int, default=None)
    parser.add_argument("--inpaint-batch-size", type=int, default=None)
    parser.add_argument("--segment-frames", type=int, default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure("WARNING" if args.quiet else "INFO")
    try:
        options = ProcessOptions(
            detector=args.detector, inpainter=args.inpainter, regions=args.region,
            multiscale=False if args.no_multiscale else None, scales=args.scales, device=args.device, encoder=args.encoder,
            max_bbox_percent=args.max_bbox_percent, detection_stride=args.detection_stride,
            yolo_batch_size=args.yolo_batch_size, inpaint_batch_size=args.inpaint_batch_size,
            segment_frames=args.segment_frames, unblend=not args.no_unblend,
        )
    except ValidationError as exc:
        print(f"error: invalid option: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    bar = tqdm(total=0, unit="frame", disable=args.quiet, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = _clean(args.input, args.output, options, progress, args.preview)
    except WatermarkRemovalError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.close()
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report.model_dump_json(indent=1))
    print(f"wrote {args.output}: {report.frames_processed} frames, {report.watermark_frames} with a watermark, "
          f"detector {report.detector}, inpainter {report.inpainter}, encoder {report.encoder}")
    return 0


def _clean(source: str, output: Path, options: ProcessOptions, progress: Progress, preview: Path | None) -> Report:
    """Fetch `source` (a path stays where it is) and clean it into `output`."""
    settings = Settings().model_copy(update={"allow_local_files": True, "allow_private_urls": True})
    with tempfile.TemporaryDirectory(prefix="wm-cli-", dir=settings.temp_dir) as tmp:
        dest = Path(tmp) / safe_filename(name_from_url(source), "input")
        path = fetch_url(source, dest, settings, s3.from_settings(settings))
        return WatermarkRemovalService(settings).clean(path, output, options, progress, preview)

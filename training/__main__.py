"""`python -m training [--smoke] [--epochs N] [--window-epochs N [--start WEIGHTS]] ...`: rebuild the data, train
(resuming), publish to models/."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from training.train import MODELS, Recipe, run_all


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train the shipped watermark detector.")
    parser.add_argument("--work", type=Path, default=Path(".cache/training"), help="data, runs and checkpoints")
    parser.add_argument("--out", type=Path, default=MODELS, help="where the weights and model card go")
    parser.add_argument("--smoke", action="store_true",
                        help="a few images, one epoch (each stage), small asset set (CI)")
    for field in fields(Recipe):
        if field.type in ("int", int):
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--min-contrast", type=float, default=None,
                        help="marks fainter than this after the encode are not labelled (0: every mark)")
    parser.add_argument("--busy-share", type=float, default=None,
                        help="the share of samples whose marks go over busy scenery (0: the usual pictures and places)")
    parser.add_argument("--real-footage", type=int, choices=[0, 1], default=None,
                        help="1: frames of real street footage join the training backgrounds")
    parser.add_argument("--model", choices=["finetune", "yolo"], default=None)
    parser.add_argument("--architecture", default=None)
    parser.add_argument("--start", type=Path, default=None,
                        help="frame-only weights to run the second (window) stage from, instead of the first stage")
    args = parser.parse_args(argv)
    smoke = Recipe(train_images=16, val_images=8, imgsz=160, epochs=1, batch=4, small_assets=True, window_images=8,
                   window_val_images=4)
    base = smoke if args.smoke else Recipe()
    chosen = {f.name: getattr(args, f.name) for f in fields(Recipe)
              if getattr(args, f.name, None) is not None}
    if "real_footage" in chosen:
        chosen["real_footage"] = bool(chosen["real_footage"])
    recipe = Recipe(**{**base.__dict__, **chosen})
    run_all(recipe, args.work, args.out, args.start)


if __name__ == "__main__":
    main()

"""`auto` inpainter: LaMa when weights are configured, else OpenCV's Telea. Apart from the LaMa module, so
a run without LaMa weights never imports torch (two seconds of every CPU run)."""

from __future__ import annotations

from app.models import lama_weights
from app.registry import BuildContext, Choice


def build(ctx: BuildContext) -> Choice:
    """LaMa when `lama_weights` finds weights, else Telea."""
    if lama_weights(ctx.settings) is not None:
        from app.inpainting.lama import build as build_lama

        return build_lama(ctx)
    from app.inpainting.opencv import build as build_opencv

    return build_opencv(ctx)

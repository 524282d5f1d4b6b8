"""Choosing the detector and inpainter for a job through the registries, and saying why."""

from __future__ import annotations

from app.config import ProcessOptions, Settings
from app.detection.regions import RegionDetector
from app.gpu import BatchPlan
from app.inpainting.restorer import Restorer
from app.media.probe import VideoInfo
from app.registry import DETECTORS, FILLERS, BuildContext, Choice, builder


def choose_detector(settings: Settings, options: ProcessOptions, info: VideoInfo, plan: BatchPlan) -> Choice:
    """`regions` when boxes are given (detection skipped); else the registry's entry for `detector`."""
    if options.regions:
        return Choice(RegionDetector(options.regions, info.width, info.height), "regions", "regions given: detection skipped")
    return builder(DETECTORS, options.detector)(BuildContext(settings, options, info, plan))


def choose_inpainter(settings: Settings, options: ProcessOptions, info: VideoInfo, plan: BatchPlan) -> Choice:
    """The registry's filler for `inpainter`, behind the restorer (remembered background, blend inversion)."""
    filler = builder(FILLERS, options.inpainter)(BuildContext(settings, options, info, plan))
    restorer = Restorer(filler.backend, info.width, info.height, settings.inpaint_margin, settings.mask_dilate_kernel,
                        settings.mask_dilate_iterations, unblend=options.unblend)
    reason = filler.reason + ("; semi-transparent marks are un-blended" if options.unblend else "")
    return Choice(restorer, filler.name, reason)

"""What a job did: probes, backends and why, fallbacks, timings, and every frame's boxes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.media.probe import VideoInfo


class FrameBoxes(BaseModel):
    index: int
    boxes: list[tuple[int, int, int, int]]


class Report(BaseModel):
    """Returned by `WatermarkRemovalService.process` and written by `--report`."""

    input: VideoInfo
    output: VideoInfo | None = None
    detector: str
    detector_reason: str
    inpainter: str
    inpainter_reason: str
    encoder: str = ""
    encoder_reason: str = ""
    device: str = "cpu"
    multiscale: bool = False
    batch_plan: dict[str, int] = Field(default_factory=dict)
    mask_dilation_px: int = 0
    fallbacks: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    restored_pixels: dict[str, int] = Field(default_factory=dict, description="masked pixels by how they were restored: remembered, interpolated, un-blended, inpainted")
    timings: dict[str, float] = Field(default_factory=dict)
    frames_processed: int = 0
    watermark_frames: int = 0
    frames: list[FrameBoxes] = Field(default_factory=list)

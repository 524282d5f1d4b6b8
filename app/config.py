"""Settings read from the environment (pydantic-settings) and per-job options.

Every value has an env name (the field name in upper case) so a deployment can tune
the worker without code; `ProcessOptions` lets one job or CLI call override them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, PrivateAttr, SecretStr,
                      ValidationInfo, field_validator, model_validator)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app import registry
from app.storage.egress import EgressPolicy

DeviceName = Literal["auto", "cpu", "cuda"]
EncoderName = Literal["auto", "nvenc", "libx264"]
# `force_format` values and the suffix each gives the result (videos: MP4-family containers).
VIDEO_FORMATS = {"MP4": ".mp4", "M4V": ".m4v", "MOV": ".mov"}
IMAGE_FORMATS = {"PNG": ".png", "JPG": ".jpg", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp"}
FORMATS = {**VIDEO_FORMATS, **IMAGE_FORMATS}


class Settings(BaseSettings):
    """Process-wide configuration; env names are the upper-case field names.

    An empty variable counts as unset: RunPod templates (and the Hub's defaults) leave optional
    variables as "" and the worker must start with its defaults, not fail to parse them.
    """

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_ignore_empty=True)

    yolo_model: Path | None = None
    yolo_model_url: str | None = None
    lama_model: Path | None = None
    lama_model_url: str | None = None
    model_cache_dir: Path = Path.home() / ".cache" / "watermark-worker"
    models_dir: Path | None = None  # baked weights (the image's /models): yolo.pt, big-lama.pt used when present
    # The watermark detector trained here (training/) and shipped in the repo; `auto` uses it.
    watermark_model: Path | None = None
    # Box score at which the stack reads the trained detector's map; unset: its card's threshold (per-box
    # precision 0.95 on the synthetic validation split). Real still-scene marks score 0.80-0.90 (bench:
    # vtest_logo, tree_text); so does scenery on a fixed camera (a building's windows), so below
    # `watermark_sure_score` a still scene's mark must also lack the camera's noise, and a still image
    # (no time to back the detector) is read at the sure score.
    watermark_score: float | None = Field(default=0.8, gt=0, lt=1)
    watermark_sure_score: float = Field(default=0.93, gt=0, le=1)
    device: DeviceName = "auto"
    encoder: EncoderName = "auto"

    yolo_batch_size: int | None = Field(default=None, ge=1)
    inpaint_batch_size: int | None = Field(default=None, ge=1)
    segment_frames: int | None = Field(default=None, ge=8)
    enable_multiscale_detection: bool = True
    multiscale_scales: Annotated[list[float], NoDecode] = [1.0, 0.8, 1.2]
    yolo_confidence: float = Field(default=0.25, gt=0, lt=1)

    max_bbox_percent: float = Field(default=10.0, gt=0, le=100)
    static_window_seconds: float = Field(default=2.0, gt=0)
    evidence_sample_fps: float = Field(default=1.0, gt=0, le=30)
    # Long side the text and trained detectors see a sampled frame at (never enlarged). Lower is faster
    # (736: half the CPU of 960) but boxes a semi-transparent mark's faint rim less: at 736 a fixed-camera
    # bench clip's logo lost a place (bench.detection, coverage 1.0 -> 0.75); at 640 the same, and a small
    # faint generated mark was lost too (README, Benchmarks).
    proposal_long_side: int = Field(default=960, ge=160)
    mask_dilate_kernel: int = Field(default=7, ge=1)
    mask_dilate_iterations: int = Field(default=3, ge=0)
    inpaint_margin: int = Field(default=64, ge=0)
    inpaint_max_side: int = Field(default=512, ge=64)

    track_look_back_frames: int = Field(default=9, ge=0)
    track_look_ahead_seconds: float = Field(default=1.5, ge=0)
    track_position_threshold: float = Field(default=0.15, gt=0)
    track_max_gap: int = Field(default=5, ge=0)
    track_min_frames: int = Field(default=3, ge=1)

    queue_frames: int = Field(default=16, ge=2)
    temp_dir: Path | None = None

    # Worker (RunPod handler) limits and storage.
    max_input_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_width: int = Field(default=4096, ge=16)
    max_height: int = Field(default=4096, ge=16)
    max_duration_seconds: float = Field(default=3600.0, gt=0)
    max_base64_bytes: int = Field(default=100 * 1024**2, ge=1)
    inline_output_max_bytes: int = Field(default=8 * 1024**2, ge=0)
    download_connect_timeout: float = Field(default=10.0, gt=0)
    download_read_timeout: float = Field(default=60.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    allow_local_files: bool = False
    allow_private_urls: bool = False
    allow_insecure_tls: bool = False  # lets a job turn certificate checks off (`source_verify_ssl: false`)
    # Private networks a job may still reach (an internal MinIO, a mirror), e.g. "10.0.5.0/24,fd00::/8".
    egress_allow_nets: Annotated[list[str], NoDecode] = []
    local_output_dir: Path = Path("out")
    bucket_endpoint_url: str | None = None
    bucket_access_key_id: str | None = None
    bucket_secret_access_key: SecretStr | None = None
    bucket_name: str | None = None
    presign_expiry_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=7 * 24 * 3600)
    upload_attempts: int = Field(default=4, ge=1)

    # Splitting a long video across the endpoint's own workers (app/split): the endpoint to submit the
    # parts to (RunPod sets RUNPOD_ENDPOINT_ID on its workers), an API key allowed to run jobs on it,
    # and the automatic mode (off unless SPLIT_ABOVE_SECONDS is set).
    runpod_endpoint_id: str | None = None
    runpod_api_key: SecretStr | None = None
    split_above_seconds: float = Field(default=0.0, ge=0)
    split_part_seconds: float = Field(default=120.0, ge=2)
    split_max_parts: int = Field(default=16, ge=2, le=256)
    split_overlap_seconds: float = Field(default=4.0, ge=0)  # at least ENCODER_LEAD_FRAMES (app.split.plan) either way
    split_timeout_seconds: float = Field(default=3300.0, gt=0)  # the parent's deadline: below the endpoint's execution timeout
    split_part_timeout_seconds: float = Field(default=1800.0, gt=0)
    split_poll_seconds: float = Field(default=2.0, gt=0)

    @field_validator("egress_allow_nets", mode="before")
    @classmethod
    def _split_nets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("egress_allow_nets")
    @classmethod
    def _valid_nets(cls, nets: list[str]) -> list[str]:
        for net in nets:
            ipaddress.ip_network(net, strict=False)
        return nets

    def egress(self) -> EgressPolicy:
        """The egress policy every outbound connection of a job goes through."""
        return EgressPolicy(self.allow_private_urls, tuple(ipaddress.ip_network(n, strict=False)
                                                           for n in self.egress_allow_nets))

    @field_validator("multiscale_scales", mode="before")
    @classmethod
    def _split_scales(cls, value: object) -> object:
        """Accept `MULTISCALE_SCALES=1.0,0.8,1.2` as well as a JSON list."""
        if isinstance(value, str):
            return [float(part) for part in value.strip("[] ").split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()


Region = tuple[int, int, int, int]  # x, y, w, h (a detection's `Box` is x1, y1, x2, y2)


def _names(table: dict[str, registry.Entry], aliases: dict[str, str] | None = None) -> dict:
    """JSON schema of a backend name: the registry's names (and accepted aliases), read when the schema is made."""
    return {"json_schema_extra": lambda schema: schema.update(enum=[*table, *(aliases or {})])}


class ProcessOptions(BaseModel):
    """What one job (its `watermark_config`) or one CLI call may choose; `None` means "use the
    settings / GPU plan". The one options model: the job schema and the CLI both derive from it."""

    model_config = ConfigDict(extra="forbid")

    detector: str = Field(default="auto", **_names(registry.DETECTORS, registry.DETECTOR_ALIASES))
    inpainter: str = Field(default="auto", **_names(registry.FILLERS))
    regions: list[Region] = Field(default_factory=list, description="x, y, w, h boxes to inpaint in every frame")
    multiscale: bool | None = None
    scales: list[float] | None = Field(default=None, min_length=1)
    device: DeviceName | None = None
    encoder: EncoderName | None = None
    max_bbox_percent: float | None = Field(default=None, gt=0, le=100)
    detection_stride: int | None = Field(default=None, ge=1, le=30)
    yolo_batch_size: int | None = Field(default=None, ge=1)
    inpaint_batch_size: int | None = Field(default=None, ge=1)
    segment_frames: int | None = Field(default=None, ge=8)
    unblend: bool = Field(default=True, description="undo semi-transparent marks where the video allows it")
    # The upstream worker's keys (FFMPEGWorker), with their meaning where it makes sense here.
    force_format: str | None = Field(default=None, description="the result's container or image format: "
                                     + ", ".join(FORMATS))
    overwrite: bool = Field(default=False, description="accepted for upstream clients; every job writes a new result")
    transparent: bool = Field(default=False, description="upstream's no-inpaint mode; refused when true")
    _notes: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _say_upstream_names(cls, data: object, handler: ModelWrapValidatorHandler[ProcessOptions]) -> ProcessOptions:
        """An upstream detector name runs our detector for it, and the answer's notes say so."""
        options = handler(data)
        given = data.get("detector") if isinstance(data, dict) else None
        if isinstance(given, str) and given.lower() in registry.DETECTOR_ALIASES:
            options._notes.append(f"detector '{given}' (upstream's Florence-2) runs as '{options.detector}' here: "
                                  + registry.DETECTORS[options.detector].summary)
        return options

    @property
    def notes(self) -> list[str]:
        return list(self._notes)

    @field_validator("detector", mode="before")
    @classmethod
    def _upstream_detector(cls, name: object) -> object:
        return registry.DETECTOR_ALIASES.get(name.lower(), name) if isinstance(name, str) else name

    @field_validator("detector", "inpainter")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        table = registry.DETECTORS if info.field_name == "detector" else registry.FILLERS
        return registry.check_name(table, str(info.field_name), name)

    @field_validator("force_format")
    @classmethod
    def _known_format(cls, name: str | None) -> str | None:
        if name is not None and name.upper() not in FORMATS:
            raise ValueError(f"unknown format {name!r}: one of {', '.join(FORMATS)}")
        return name.upper() if name is not None else None

    @field_validator("transparent")
    @classmethod
    def _no_transparent(cls, transparent: bool) -> bool:
        if transparent:
            raise ValueError("transparent output (the mark cut out, not repainted) is not supported: the worker "
                             "repaints the mark; set preview: true to see what it removes")
        return transparent

    @field_validator("regions")
    @classmethod
    def _positive_regions(cls, regions: list[Region]) -> list[Region]:
        for x, y, w, h in regions:
            if w <= 0 or h <= 0 or x < 0 or y < 0:
                raise ValueError(f"region {x},{y},{w},{h} must have x,y >= 0 and w,h > 0")
        return regions

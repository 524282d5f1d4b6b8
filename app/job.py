"""The RunPod job contract: what a caller sends (validated, errors name the field)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from app.config import ProcessOptions


class S3Config(BaseModel):
    """RunPod's per-job bucket credentials (same names as RunPod's own `s3Config`), plus the upstream
    worker's `region` and `forcePathStyle`."""

    model_config = ConfigDict(extra="forbid")

    accessId: str = Field(min_length=1)
    accessSecret: SecretStr
    bucketName: str | None = None
    endpointUrl: str = Field(min_length=1)
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,63}$")
    forcePathStyle: bool | None = Field(default=None, description="path-style addressing (the default for a job's "
                                        "own endpoint: MinIO, R2); false for virtual-hosted buckets")


class S3Object(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str | None = None
    key: str = Field(min_length=1)


class SplitRequest(BaseModel):
    """`split`: clean this video as parts on the endpoint's own workers, then join them."""

    model_config = ConfigDict(extra="forbid")

    parts: int | None = Field(default=None, ge=2, le=256)
    seconds: float | None = Field(default=None, ge=2, description="part length; the part count follows")
    timeout_seconds: float | None = Field(default=None, gt=0, description="the parent's deadline (SPLIT_TIMEOUT_SECONDS)")

    @model_validator(mode="after")
    def _one_size(self) -> SplitRequest:
        if (self.parts is None) == (self.seconds is None):
            raise ValueError("give exactly one of parts or seconds")
        return self


class PartSpec(BaseModel):
    """`part`: set by a split parent on its child jobs. The child cleans the whole segment it is given
    (lead-in and lead-out from the neighbouring parts give tracking and restoration their context) with
    the parent's detection decision over the whole video, encodes all of it with IDR frames at
    `keyframes` (numbered from the part's first frame) and returns the frames
    [keep_first, keep_first + keep_frames), cut out at two of those IDR frames, video only, at `fps`."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=2)
    first_frame: int = Field(ge=0, description="the video's frame number of the part's first frame")
    keep_first: int = Field(ge=0)
    keep_frames: int = Field(ge=1)
    fps: str = Field(pattern=r"^\d+(/\d+)?$")
    keyframes: list[int] = Field(default_factory=list, max_length=100_000)
    analysis_key: str | None = Field(default=None, description="the whole video's detection decision, in the "
                                     "part's bucket (none: the part is analysed alone)")
    seeds_key: str | None = Field(default=None, description="the places' pictures from before each part, in the "
                                  "part's bucket (none: restoration starts with what the part shows)")


class JobInput(BaseModel):
    """`job["input"]`: exactly one source, where the result goes, and the watermark options."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    video_url: str | None = Field(default=None, validation_alias=AliasChoices("video_url", "source", "source_url"))
    video_base64: str | None = Field(default=None, validation_alias=AliasChoices("video_base64", "source_base64"))
    s3: S3Object | None = Field(default=None, validation_alias=AliasChoices("s3", "source_s3"))
    source_s3_key: str | None = None
    source_headers: dict[str, str] = Field(default_factory=dict)
    source_verify_ssl: bool = Field(default=True, description="false only where the worker sets ALLOW_INSECURE_TLS")
    filename: str | None = Field(default=None, max_length=200)
    watermark_config: ProcessOptions = Field(default_factory=ProcessOptions)
    output_url: str | None = None
    output_filename: str | None = Field(default=None, max_length=200)
    s3_prefix: str | None = Field(default=None, max_length=500)
    return_base64: bool = False
    preview: bool = Field(default=False, description="also deliver a picture of a few frames with the masks outlined")
    s3Config: S3Config | None = None
    split: SplitRequest | None = None
    part: PartSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> JobInput:
        if self.source_s3_key and self.s3 is None:
            self.s3 = S3Object(key=self.source_s3_key)
        given = [name for name in ("video_url", "video_base64", "s3") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one source: video_url (http, https or s3://), video_base64, or s3 {bucket, key}"
                + (f"; got {', '.join(given)}" if given else "")
            )
        if self.output_url and not self.output_url.startswith(("http://", "https://")):
            raise ValueError("output_url must be an http(s) presigned PUT URL")
        if self.split is not None and self.part is not None:
            raise ValueError("a part of a split job is not split again: give split or part, not both")
        return self


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field, never echoing the values (they may hold secrets)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "input"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "invalid input: " + "; ".join(parts)

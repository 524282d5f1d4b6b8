"""The backends a job can name: adding a detector or a filler is one module with a `build` function
and one line in a table here. The option types, the CLI's choices, the job schema and the README's
tables all read these tables, so nothing else needs an edit.

Entries name their builder as "module:function" and are imported only when a job asks for them:
validating a job or building the CLI never loads torch or a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import ProcessOptions, Settings
    from app.gpu import BatchPlan
    from app.media.probe import VideoInfo


@dataclass(frozen=True)
class Entry:
    target: str  # "package.module:function", called with a `BuildContext`, returns a `Choice`
    summary: str  # one line: what it is good for (CLI help, README table)


@dataclass(frozen=True)
class BuildContext:
    """What a builder may read to make a backend for one job."""

    settings: Settings
    options: ProcessOptions
    info: VideoInfo
    plan: BatchPlan

    @property
    def max_bbox_percent(self) -> float:
        return self.options.max_bbox_percent or self.settings.max_bbox_percent


@dataclass
class Choice:
    backend: Any  # a `Detector` for detectors, a `Filler` for fillers
    name: str
    reason: str


DETECTORS: dict[str, Entry] = {
    "auto": Entry("app.detection.stack:build", "every proposal source there is (text detector, the trained "
                  "watermark detector, edge persistence, YOLO when configured); temporal evidence decides"),
    "static": Entry("app.detection.static:build", "edge persistence alone: marks that stay put on a moving camera"),
    "yolo": Entry("app.detection.yolo:build", "a YOLO model (YOLO_MODEL) alone: batched, multi-scale"),
    "both": Entry("app.detection.yolo:build_both", "YOLO and edge persistence, boxes united"),
}

# Names other workers' clients send, and the detector each runs here.
DETECTOR_ALIASES = {"flo": "auto", "florence": "auto"}

FILLERS: dict[str, Entry] = {
    "auto": Entry("app.inpainting.auto:build", "LaMa when weights are configured, else OpenCV"),
    "lama": Entry("app.inpainting.lama:build", "LaMa (LAMA_MODEL or LAMA_MODEL_URL), batched on crops"),
    "opencv": Entry("app.inpainting.opencv:build", "OpenCV Telea: weights-free, fine for thin marks"),
}


def builder(table: dict[str, Entry], name: str) -> Callable[[BuildContext], Choice]:
    """The build function an entry names."""
    module, _, function = table[name].target.partition(":")
    return getattr(import_module(module), function)


def check_name(table: dict[str, Entry], kind: str, name: str) -> str:
    """`name` if the table has it; else a ValueError listing what there is."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}: one of {', '.join(table)}")
    return name


def markdown_table() -> str:
    """The README's backend table, made from the registries (a test keeps the README equal to it)."""
    rows = [f"| `{kind}` | `{name}` | {entry.summary} |"
            for kind, table in (("detector", DETECTORS), ("inpainter", FILLERS)) for name, entry in table.items()]
    return "\n".join(["| option | name | what it is for |", "|---|---|---|", *rows])


if __name__ == "__main__":
    print(markdown_table())

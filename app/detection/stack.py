"""`auto`: the general detection stack. Every proposal source there is (the text detector, the
trained watermark detector, edge persistence, a configured YOLO) feeds the temporal evidence
(`app.detection.evidence`), which decides what is a mark; a still image has no time, so the
trained detector decides alone there."""

from __future__ import annotations

from dataclasses import replace

from app.detection.evidence import EvidenceDetector
from app.detection.static import StaticDetector
from app.detection.text import MapDetector, map_predictor, model_path, text_network, watermark_network
from app.models import watermark_reading, watermark_weights, yolo_weights
from app.registry import BuildContext, Choice


def build(ctx: BuildContext) -> Choice:
    settings, info, plan = ctx.settings, ctx.info, ctx.plan
    trained_weights = watermark_weights(settings)
    trained_network = watermark_network(trained_weights) if trained_weights is not None else None
    trained_predict = map_predictor(trained_network) if trained_network is not None else None
    windowed = trained_network is not None and trained_network.windowed
    reading = watermark_reading(trained_weights, settings) if trained_weights is not None else None
    if info.frames <= 1 and trained_predict is not None and reading is not None:
        # Alone, with no pixels over time to back it: read at the score at which its word alone decides a still
        # scene (below it, it boxes scenery such as a building's windows).
        sure = replace(reading, box_score=max(reading.box_score, settings.watermark_sure_score))
        still = MapDetector(trained_predict, plan.device, plan.yolo_batch, info.width, info.height, sure, "trained",
                            settings.proposal_long_side, windowed)
        return Choice(still, "trained", "still image: time cannot decide, the trained watermark detector alone")
    sources: dict = {"edges": lambda w, h: StaticDetector(w, h, settings.evidence_sample_fps,
                                                          settings.static_window_seconds, 100.0)}
    text = model_path()
    if text is not None:
        model = map_predictor(text_network(text))
        sources["text"] = lambda w, h: MapDetector(model, plan.device, plan.yolo_batch, w, h,
                                                   long_side=settings.proposal_long_side)
    trained: dict[str, float] = {}  # source: the score at which its word alone decides a still scene
    if trained_predict is not None:
        sources["trained"] = lambda w, h: MapDetector(trained_predict, plan.device, plan.yolo_batch, w, h, reading,
                                                      "trained", settings.proposal_long_side, windowed)
        trained["trained"] = settings.watermark_sure_score
    yolo = yolo_weights(settings)
    if yolo is not None:
        from app.detection.yolo import YoloDetector, load_yolo, ultralytics_predictor

        predictor = ultralytics_predictor(load_yolo(yolo))
        analysis = replace(plan, detection_stride=1)
        sources["yolo"] = lambda w, h: YoloDetector(predictor, analysis, w, h, settings.yolo_confidence, 100.0)
        trained["yolo"] = settings.yolo_confidence
    detector = EvidenceDetector(sources, trained, info, settings.evidence_sample_fps, ctx.max_bbox_percent)
    return Choice(detector, "auto", "general stack: " + ", ".join(sources) + " proposals, temporal evidence decides")

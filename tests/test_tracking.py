"""Tracking on synthetic box sequences: bridging, jumps, flicker removal, streaming equals batch."""

from __future__ import annotations

from app.detection.tracking import StreamingTracker, TrackParams, track
from app.detection.types import Detection

W, H = 640, 360
A = (20, 20, 120, 60)
B = (500, 300, 600, 340)
PARAMS = TrackParams(look_back=3, look_ahead=4, max_gap=5, min_frames=3)


def seq(spec: list[tuple]) -> list[list[Detection]]:
    return [[Detection(box=b) for b in boxes] for boxes in spec]


def boxes(frames: list[list[Detection]]) -> list[list[tuple]]:
    return [[d.box for d in f] for f in frames]


def test_gaps_up_to_max_gap_are_bridged() -> None:
    frames = seq([(A,)] * 5 + [()] * 4 + [(A,)] * 5)
    assert boxes(track(frames, W, H, PARAMS)) == [[A]] * 14


def test_one_frame_false_positive_is_dropped() -> None:
    frames = seq([(A,)] * 10)
    frames[4].append(Detection(box=B))
    assert boxes(track(frames, W, H, PARAMS)) == [[A]] * 10


def test_track_extends_back_and_ahead_within_limits() -> None:
    frames = seq([()] * 6 + [(A,)] * 5 + [()] * 8)
    out = boxes(track(frames, W, H, PARAMS))
    assert out == [[]] * 3 + [[A]] * (3 + 5 + 4) + [[]] * 4


def test_jump_between_spots_is_not_smeared() -> None:
    """A mark at A then at B: A is not extended into B's frames, nor B back into A's."""
    frames = seq([(A,)] * 8 + [(B,)] * 8)
    out = boxes(track(frames, W, H, PARAMS))
    assert out == [[A]] * 8 + [[B]] * 8


def test_concurrent_marks_are_kept_apart() -> None:
    frames = seq([(A, B)] * 6)
    out = track(frames, W, H, PARAMS)
    assert all(sorted(f) == sorted([A, B]) for f in boxes(out))


def test_streaming_tracker_matches_batch_tracking() -> None:
    spec = ([(A,)] * 7 + [()] * 3 + [(A,)] * 9 + [(B,)] * 12 + [()] * 20 + [(A, B)] * 15) * 3
    frames = seq(spec)
    expected = boxes(track(frames, W, H, PARAMS))
    streaming = StreamingTracker(W, H, PARAMS)
    got: list = []
    for start in range(0, len(frames), 17):
        got.extend(streaming.push(frames[start : start + 17]))
    got.extend(streaming.finish())
    assert [i for i, _ in got] == list(range(len(frames)))
    assert boxes([d for _, d in got]) == expected
    assert len(streaming.raw) <= streaming.back + streaming.ahead + 17

"""What a layout *shows*: the side, motion and growth of each object, read off its boxes.

These are the questions a viewer answers by looking: is the object on the left? does it cross
to the right? does it grow (approach)? They let benchmarks score a planner against ground
truth without caring how it got there.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL


def centres_and_areas(vsl: VSL, object_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keyframe times, box centre x and box area of one object (where it is visible)."""
    t, x, area = [], [], []
    for kf in vsl.keyframes:
        for b in kf.boxes:
            if b.id == object_id:
                x0, y0, x1, y1 = b.box
                t.append(kf.time)
                x.append((x0 + x1) / 2)
                area.append((x1 - x0) * (y1 - y0))
    return np.array(t), np.array(x), np.array(area)


def _first_and_last_quarter(values: np.ndarray) -> tuple[float, float]:
    """Means of the first and the last quarter of a per-keyframe series (at least one each)."""
    q = max(1, values.size // 4)
    return float(np.mean(values[:q])), float(np.mean(values[-q:]))


def side_of_layout(
    vsl: VSL, object_id: int, *, threshold_deg: float = 15.0, fov_deg: float = 90.0
) -> Literal["left", "centre", "right"]:
    """Side of the object's mean box centre, with the camera model's x for ±threshold."""
    _, x, _ = centres_and_areas(vsl, object_id)
    edge = float(Camera(fov_deg=fov_deg).x_of(threshold_deg))  # < 0.5 (left)
    mean = float(np.mean(x))
    if mean < edge:
        return "left"
    if mean > 1.0 - edge:
        return "right"
    return "centre"


def motion_of_layout(
    vsl: VSL, object_id: int, *, min_shift: float = 0.1
) -> Literal["left_to_right", "right_to_left", "static"]:
    """Direction of the object's horizontal travel (first vs last quarter of keyframes)."""
    first, last = _first_and_last_quarter(centres_and_areas(vsl, object_id)[1])
    shift = last - first
    if shift > min_shift:
        return "left_to_right"
    if shift < -min_shift:
        return "right_to_left"
    return "static"


def trend_of_layout(
    vsl: VSL, object_id: int, *, min_ratio: float = 1.3
) -> Literal["approaching", "receding", "steady"]:
    """Whether the object grows (approaching) or shrinks (receding) over the clip."""
    first, last = _first_and_last_quarter(centres_and_areas(vsl, object_id)[2])
    ratio = last / max(first, 1e-9)
    if ratio >= min_ratio:
        return "approaching"
    if ratio <= 1.0 / min_ratio:
        return "receding"
    return "steady"

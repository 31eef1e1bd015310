"""What a layout *shows*: the side, motion and growth of each object, read off its boxes.

These are the questions a viewer answers by looking: is the object on the left? does it cross
to the right? does it grow (approach)? They let benchmarks score a planner against ground
truth without caring how it got there.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from spa2v.audio.spatial import SIDE_THRESHOLD_DEG
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


def _x_side(x: float, edge: float) -> Literal["left", "centre", "right"]:
    """Side of a box centre ``x`` (``edge``: the camera's x of the side threshold, < 0.5)."""
    return "left" if x < edge else "right" if x > 1.0 - edge else "centre"


def side_of_layout(
    vsl: VSL, object_id: int, *, threshold_deg: float = SIDE_THRESHOLD_DEG, fov_deg: float = 90.0
) -> Literal["left", "centre", "right"]:
    """Side of the object's mean box centre, with the camera model's x for ±threshold."""
    _, x, _ = centres_and_areas(vsl, object_id)
    edge = float(Camera(fov_deg=fov_deg).x_of(threshold_deg))  # < 0.5 (left)
    return _x_side(float(np.mean(x)), edge)


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


def match_objects(pred: VSL, gt: VSL, times: np.ndarray) -> dict[int, int]:
    """Ground-truth object id → predicted object id, matched one to one (Hungarian) by the mean
    distance of their box centres over the times where both are visible."""
    from scipy.optimize import linear_sum_assignment

    pb, gb = pred.interpolate(times), gt.interpolate(times)
    g_ids, p_ids = gt.object_ids(), pred.object_ids()
    if not g_ids or not p_ids:
        return {}
    cost = np.full((len(g_ids), len(p_ids)), 2.0)
    for i, g in enumerate(g_ids):
        gc = np.stack([(gb[g][:, 0] + gb[g][:, 2]) / 2, (gb[g][:, 1] + gb[g][:, 3]) / 2], 1)
        for j, p in enumerate(p_ids):
            pc = np.stack([(pb[p][:, 0] + pb[p][:, 2]) / 2, (pb[p][:, 1] + pb[p][:, 3]) / 2], 1)
            both = np.all(np.isfinite(gc), 1) & np.all(np.isfinite(pc), 1)
            if both.any():
                cost[i, j] = float(np.mean(np.linalg.norm(gc[both] - pc[both], axis=1)))
    rows, cols = linear_sum_assignment(cost)
    return {g_ids[r]: p_ids[c] for r, c in zip(rows, cols, strict=True)}


def _early_wrong_side(pred: VSL, p: int, gt: VSL, g: int, fov_deg: float = 90.0) -> int:
    """Keyframes of ``pred`` before object ``g`` of ``gt`` first appears that show ``p`` on
    another side than ``g``'s first box."""
    first = next(((k.time, b.box) for k in gt.keyframes for b in k.boxes if b.id == g), None)
    if first is None:
        return 0
    edge = float(Camera(fov_deg=fov_deg).x_of(SIDE_THRESHOLD_DEG))
    t0, box = first
    side = _x_side((box[0] + box[2]) / 2, edge)
    return sum(1 for k in pred.keyframes if k.time < t0 - 1e-9 for b in k.boxes
               if b.id == p and _x_side((b.box[0] + b.box[2]) / 2, edge) != side)  # fmt: skip


def compare_layouts(pred: VSL, gt: VSL, *, rate_hz: float = 8.0) -> dict:
    """Spatial agreement of a predicted layout with the ground truth, one clip.

    Returns
    -------
    dict
        ``count_ok`` (same number of objects), and per ground-truth object (``objects``, a
        list): its matched prediction's ``centre_error`` (mean distance of the box centres, in
        frame widths/heights), ``side_ok``, ``motion_ok`` and ``trend_ok`` (the categories of
        :func:`side_of_layout`, :func:`motion_of_layout`, :func:`trend_of_layout` agree; an
        unmatched object counts as wrong), the ground truth's categories, the paired box
        centres ``x_gt``/``x_pred`` for rank correlations, and ``early_wrong_side``: the
        predicted keyframes before the source first sounds (before its first box in the
        ground truth) that show it on another side than where it is first heard. An object
        the ground truth never draws (a DCASE2025 source that stays off screen) has no
        position to compare: it counts in ``count_ok`` only.
    """
    n = max(1, int(round(gt.duration * rate_hz)))
    times = gt.frame_times(n)
    match = match_objects(pred, gt, times)
    pb, gb = pred.interpolate(times), gt.interpolate(times)
    objects = []
    drawn = {b.id for kf in gt.keyframes for b in kf.boxes}
    for g in gt.object_ids():
        if g not in drawn:
            continue
        row = {
            "side": side_of_layout(gt, g),
            "motion": motion_of_layout(gt, g),
            "trend": trend_of_layout(gt, g),
        }
        p = match.get(g)
        row["early_wrong_side"] = 0 if p is None else _early_wrong_side(pred, p, gt, g)
        if p is None:
            row.update(matched=False, centre_error=float("nan"), side_ok=False,
                       motion_ok=False, trend_ok=False, x_gt=[], x_pred=[])  # fmt: skip
        else:
            gc = (gb[g][:, :2] + gb[g][:, 2:]) / 2
            pc = (pb[p][:, :2] + pb[p][:, 2:]) / 2
            both = np.all(np.isfinite(gc), 1) & np.all(np.isfinite(pc), 1)
            err = np.linalg.norm(gc[both] - pc[both], axis=1)
            row.update(
                matched=True,
                centre_error=float(np.mean(err)) if err.size else float("nan"),
                side_ok=side_of_layout(pred, p) == row["side"],
                motion_ok=motion_of_layout(pred, p) == row["motion"],
                trend_ok=trend_of_layout(pred, p) == row["trend"],
                x_gt=[float(v) for v in gc[both, 0]],
                x_pred=[float(v) for v in pc[both, 0]],
            )
        objects.append(row)
    return {"count_ok": len(pred.objects) == len(gt.objects), "n_pred": len(pred.objects),
            "n_gt": len(gt.objects), "objects": objects}  # fmt: skip

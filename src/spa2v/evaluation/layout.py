"""Layout similarity: MaxIoU, LTSim and DocSim, frame by frame between two layouts.

Both layouts are sampled at the same times (:meth:`VSL.interpolate`), each frame becomes a set
of boxes, and the three measures of the layout-generation literature compare the two sets:

* **MaxIoU** (Kikuchi, Simo-Serra, Otani, Yamaguchi, "Constrained Graphic Layout Generation
  via Latent Optimization", ACM MM 2021): the best one-to-one matching of elements (same
  label), mean IoU of the matched pairs; here divided by the larger element count, so missing
  or extra elements score 0.
* **LTSim** (Otani, Togashi, Nakashima, Rahtu, Heikkilä, Satoh, "LTSim: Layout
  Transportation-based Similarity Measure for Evaluating Layout Generation", 2024):
  ``exp(-OT)``, with OT the optimal-transport cost between the two element sets as uniform
  distributions, element cost ``0.5 * (1 - (GIoU + 1) / 2) + 0.5 * [labels differ]``.
* **DocSim** (Patil, Ben-Eliezer, Or, Averbuch-Elor, "READ: Recursive Autoencoders for
  Document Layout Generation", CVPR Workshops 2020): the best one-to-one matching maximising
  ``W = sqrt(min(area1, area2)) * 2 ** (-Δc - 2 Δs)`` (``Δc`` distance of the centres, ``Δs``
  the sum of the width and height differences; pairs of different labels weigh 0), mean of the
  matched weights; 0 when the counts differ by three or more.

Labels: the objects' names when ``by_name`` is set; otherwise every object has the same label
(the default: planners without a tagger name their objects "sound source", and the question
is where things are, not what they are called).

Conventions (``convention``): **strict** (the default) scores every frame — a frame where
the two layouts hold different numbers or labels of elements gets MaxIoU 0 for the missing or
extra ones (divided by the larger count), and two empty frames agree (1). **reference** follows
the LTSim authors' code (``mayu-ot/ltsim``, ``src/layout_eval/measures``), the public code of
all three measures: MaxIoU skips a frame whose label multisets differ or that is empty and
divides by the element count; DocSim scores two empty frames 0; LTSim is the same in both.
That code's DocSim builds its pair-score matrix with ``meshgrid`` and ``reshape(N, M)``,
which for unequal counts pairs elements with the wrong partners' scores; spa2v matches
exhaustively (each element's own scores) in both conventions. The SpA2V paper does not say
which code it used; numbers computed with the LTSim authors' code — the usual source of
LTSim — follow the reference convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog

from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL

Boxes = np.ndarray  # (n, 4) [x0, y0, x1, y1]


def iou_matrix(a: Boxes, b: Boxes, *, generalized: bool = False) -> np.ndarray:
    """IoU (or generalised IoU, Rezatofighi et al. 2019) of every pair of boxes."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    iou = inter / np.maximum(union, 1e-12)
    if not generalized:
        return iou
    cx0 = np.minimum(a[:, None, 0], b[None, :, 0])
    cy0 = np.minimum(a[:, None, 1], b[None, :, 1])
    cx1 = np.maximum(a[:, None, 2], b[None, :, 2])
    cy1 = np.maximum(a[:, None, 3], b[None, :, 3])
    hull = (cx1 - cx0) * (cy1 - cy0)
    return iou - (hull - union) / np.maximum(hull, 1e-12)


def _same(la: Sequence[str], lb: Sequence[str]) -> np.ndarray:
    return np.array([[x == y for y in lb] for x in la], dtype=bool).reshape(len(la), len(lb))


CONVENTIONS = ("strict", "reference")


def max_iou(
    a: Boxes, la: Sequence[str], b: Boxes, lb: Sequence[str], *, convention: str = "strict"
) -> float | None:
    """MaxIoU of two sets of boxes (see the module docstring).

    ``strict``: 1 for two empty sets, divided by the larger count. ``reference``: None (the
    frame is skipped) when the label multisets differ or the sets are empty, else divided by
    the element count.
    """
    n, m = len(a), len(b)
    if convention == "reference" and (n == 0 or sorted(la) != sorted(lb)):
        return None
    if n == 0 and m == 0:
        return 1.0
    if n == 0 or m == 0:
        return 0.0
    score = iou_matrix(a, b) * _same(la, lb)
    rows, cols = linear_sum_assignment(score, maximize=True)
    return float(score[rows, cols].sum() / max(n, m))


def lt_sim(a: Boxes, la: Sequence[str], b: Boxes, lb: Sequence[str]) -> float:
    """LTSim of two sets of boxes (see the module docstring)."""
    n, m = len(a), len(b)
    if n == 0 and m == 0:
        return 1.0
    if n == 0 or m == 0:
        return float(np.exp(-1.0))
    cost = 0.5 * (1 - (iou_matrix(a, b, generalized=True) + 1) / 2) + 0.5 * ~_same(la, lb)
    # optimal transport between uniform distributions (a small linear programme)
    a_eq = np.zeros((n + m, n * m))
    for i in range(n):
        a_eq[i, i * m : (i + 1) * m] = 1
    for j in range(m):
        a_eq[n + j, j::m] = 1
    b_eq = np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)])
    res = linprog(cost.ravel(), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    return float(np.exp(-res.fun))


def doc_sim(
    a: Boxes, la: Sequence[str], b: Boxes, lb: Sequence[str], *, convention: str = "strict"
) -> float:
    """DocSim of two sets of boxes (see the module docstring); two empty sets score 1
    (``strict``) or 0 (``reference``)."""
    n, m = len(a), len(b)
    if abs(n - m) >= 3 or n == 0 or m == 0:
        return 1.0 if n == m == 0 and convention == "strict" else 0.0
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ca = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], 1)
    cb = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    wa, ha = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    wb, hb = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    dc = np.linalg.norm(ca[:, None] - cb[None], axis=-1)
    ds = np.abs(wa[:, None] - wb[None]) + np.abs(ha[:, None] - hb[None])
    alpha = np.sqrt(np.minimum((wa * ha)[:, None], (wb * hb)[None]))
    w = alpha * np.power(2.0, -dc - 2.0 * ds) * _same(la, lb)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return float(w[rows, cols].mean())


def frame_sets(layout: VSL, times: np.ndarray, *, by_name: bool) -> list[tuple[Boxes, list]]:
    """The visible boxes and labels of a layout at each time."""
    boxes = layout.interpolate(times)
    names = {o.id: (o.name if by_name else "object") for o in layout.objects}
    out = []
    for i in range(len(times)):
        ids = [oid for oid, rows in boxes.items() if np.all(np.isfinite(rows[i]))]
        out.append((np.array([boxes[oid][i] for oid in ids]).reshape(-1, 4),
                    [names[oid] for oid in ids]))  # fmt: skip
    return out


def layout_similarity(
    pred: VSL,
    gt: VSL,
    *,
    rate_hz: float = 8.0,
    by_name: bool = False,
    convention: str = "strict",
) -> dict[str, float]:
    """MaxIoU, LTSim and DocSim of ``pred`` against ``gt``, averaged over frames.

    Parameters
    ----------
    pred, gt : VSL
        Layouts of the same clip.
    rate_hz : float
        Frames per second at which both are compared (over the ground truth's duration).
    by_name : bool
        Match objects only with objects of the same name.
    convention : {"strict", "reference"}
        How frames whose element counts or labels differ, and empty frames, are scored (see
        the module docstring).

    Returns
    -------
    dict
        ``max_iou``, ``ltsim``, ``docsim`` (each in [0, 1], higher is better; ``max_iou`` is
        NaN under ``reference`` when every frame was skipped), and ``max_iou_frames``, the
        frames MaxIoU scored.

    Raises
    ------
    ParameterError
        For an unknown convention.
    """
    if convention not in CONVENTIONS:
        raise ParameterError(f"--convention must be strict or reference, got {convention!r}")
    n = max(1, int(round(gt.duration * rate_hz)))
    times = gt.frame_times(n)
    ps, gs = frame_sets(pred, times, by_name=by_name), frame_sets(gt, times, by_name=by_name)
    scores: dict[str, list[float]] = {"max_iou": [], "ltsim": [], "docsim": []}
    for (pb, pl), (gb, gl) in zip(ps, gs, strict=True):
        m = max_iou(pb, pl, gb, gl, convention=convention)
        if m is not None:
            scores["max_iou"].append(m)
        scores["ltsim"].append(lt_sim(pb, pl, gb, gl))
        scores["docsim"].append(doc_sim(pb, pl, gb, gl, convention=convention))
    out = {k: float(np.mean(v)) if v else float("nan") for k, v in scores.items()}
    out["max_iou_frames"] = len(scores["max_iou"])
    return out

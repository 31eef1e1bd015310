"""Cue lock: where a model's boxes contradict strong measured cues, positions follow the cues.

``trust="llm"`` keeps the model's boxes; ``trust="cues"`` takes every object's horizontal
position from the cue-based planner; ``trust="blend"`` (default) corrects only contradictions
of strong cues:

* **wrong side** — at a keyframe where the cue planner puts the object's source clearly to one
  side (box centre at least :data:`STRONG_OFFSET` from the middle, about 20° of azimuth with
  the default camera) and the model draws it past the middle on the other side;
* **wrong direction** — the cues say the source crosses one way (left to right or right to
  left) and the model moves the object the other way.

A corrected box keeps the model's size and height and moves sideways to the cue planner's
position, so the model keeps names, captions, sizes and what it shows; ``reasoning`` lists
every correction. Objects are linked to tracked sources by the ``source`` the model gave them,
else by order (object ``k`` = source ``k``, left to right) when the counts agree.
"""

from __future__ import annotations

import numpy as np

from spa2v.config import Trust
from spa2v.evaluation.spatial import motion_of_layout
from spa2v.layout.vsl import VSL

#: Distance of a box centre from the middle of the frame that counts as clearly on a side.
STRONG_OFFSET = 0.15
#: How far past the middle the model's box must be to contradict.
CONTRA_OFFSET = 0.05


def _links(model: VSL, sources: dict[int, int], n_sources: int) -> dict[int, int]:
    links = {oid: s for oid, s in sources.items() if 0 <= s < n_sources}
    if len(links) < len(model.objects) and len(model.objects) == n_sources:
        for k, obj in enumerate(model.objects):
            links.setdefault(obj.id, k)
    return links


def _centre_x(box: tuple[float, float, float, float]) -> float:
    return (box[0] + box[2]) / 2


def _moved(box: tuple[float, float, float, float], xc: float) -> list[float]:
    w = box[2] - box[0]
    x0 = min(max(xc - w / 2, 0.0), 1.0 - w)
    return [round(x0, 4), box[1], round(x0 + w, 4), box[3]]


def apply_cue_lock(
    model: VSL, cue_plan: VSL, *, trust: Trust, sources: dict[int, int]
) -> tuple[VSL, list[str]]:
    """The model's layout with positions corrected according to ``trust``.

    Parameters
    ----------
    model : VSL
        The (repaired, valid) layout of the language model.
    cue_plan : VSL
        The cue-based planner's layout of the same recording (object ``k`` = source ``k``).
    trust : {"cues", "llm", "blend"}
        Whose positions win.
    sources : dict of int to int
        Object id → tracked source, as the model gave them.

    Returns
    -------
    (VSL, list of str)
        The layout and one line per correction.
    """
    if trust == "llm":
        return model, []
    links = _links(model, sources, len(cue_plan.objects))
    times = np.array([kf.time for kf in model.keyframes])
    cue_boxes = cue_plan.interpolate(times)
    cue_ids = cue_plan.object_ids()
    names = {o.id: o.name for o in model.objects}
    notes: list[str] = []
    new_x: dict[tuple[int, int], float] = {}  # (keyframe, object id) -> centre x
    for oid, s in links.items():
        cue_x = (cue_boxes[cue_ids[s]][:, 0] + cue_boxes[cue_ids[s]][:, 2]) / 2
        rows = [
            (k, _centre_x(b.box))
            for k, kf in enumerate(model.keyframes)
            for b in kf.boxes
            if b.id == oid and np.isfinite(cue_x[k])
        ]  # fmt: skip
        if not rows:
            continue
        if trust == "cues":
            for k, _ in rows:
                new_x[(k, oid)] = float(cue_x[k])
            notes.append(f"{names[oid]}: horizontal positions from the measured cues")
            continue
        cue_motion = motion_of_layout(cue_plan, cue_ids[s])
        model_motion = motion_of_layout(model, oid)
        opposite = {"left_to_right": "right_to_left", "right_to_left": "left_to_right"}
        if cue_motion in opposite and model_motion == opposite[cue_motion]:
            for k, _ in rows:
                new_x[(k, oid)] = float(cue_x[k])
            notes.append(
                f"{names[oid]}: the model moved it {model_motion.replace('_', ' ')}, the cues "
                f"say {cue_motion.replace('_', ' ')}; positions follow the cues"
            )
            continue
        fixed: list[float] = []
        for k, x in rows:
            c = float(cue_x[k])
            if (
                abs(c - 0.5) >= STRONG_OFFSET
                and (c - 0.5) * (x - 0.5) < 0
                and (abs(x - 0.5) >= CONTRA_OFFSET)
            ):
                new_x[(k, oid)] = c
                fixed.append(model.keyframes[k].time)
        if fixed:
            at = ", ".join(f"{t:g}" for t in fixed)
            notes.append(f"{names[oid]}: drawn on the wrong side at {at} s; moved as the cues say")
    if not new_x:
        return model, notes
    data = model.model_dump(by_alias=True)
    for k, kf in enumerate(data["keyframes"]):
        for b in kf["boxes"]:
            if (k, b["id"]) in new_x:
                b["box"] = _moved(tuple(b["box"]), new_x[(k, b["id"])])
    data["reasoning"] = (data.get("reasoning") or "").rstrip() + (
        "\nCue lock: " + "; ".join(notes) + "."
    )
    return VSL.model_validate(data), notes

"""From a model's answer text to a valid VSL: extract the JSON, repair what is safe, validate.

Safe repairs change nothing the model meant: boxes clamped into the frame and their corners put
in order, keyframes sorted by time (and times clamped into the clip), boxes naming unknown
objects dropped, duplicate boxes of one object in a keyframe reduced to the first, missing
captions left empty. Everything else — no JSON at all, missing fields, values of the wrong
type, no objects — is reported as an error (for one retry with the error in the message).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from spa2v.layout.vsl import MIN_KEYFRAME_GAP_S, VSL, LayoutError

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


class AnswerError(ValueError):
    """The answer cannot be turned into a layout; the message says why (sent back to the model)."""


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer: the whole text, a fenced block, or the first
    balanced ``{...}``.

    Raises
    ------
    AnswerError
        When there is no JSON object (including truncated JSON).
    """
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    if start >= 0:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            c = text[i]
            if in_str:
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    candidates.append(text[start : i + 1])
                    break
    last_error = "no JSON object found"
    for cand in candidates:
        try:
            value = json.loads(cand)
        except json.JSONDecodeError as exc:
            last_error = f"invalid JSON ({exc.msg} at character {exc.pos})"
            continue
        if isinstance(value, dict):
            return value
        last_error = "the JSON is not an object"
    if start < 0 and last_error != "the JSON is not an object":
        last_error = "no JSON object found"
    elif text.count("{") > text.count("}"):
        last_error = "the JSON is truncated (unbalanced braces)"
    raise AnswerError(last_error)


@dataclass
class Repaired:
    """A layout built from an answer, with the repairs made."""

    layout: VSL
    repairs: list[str] = field(default_factory=list)
    sources: dict[int, int] = field(default_factory=dict)  # object id -> tracked source


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise AnswerError(f"{where} must be a number, got {json.dumps(v)[:40]}")
    return float(v)


def to_layout(
    data: dict[str, Any], *, duration: float, width: int, height: int, camera: dict[str, Any]
) -> Repaired:
    """Build a VSL from the model's JSON, repairing what is safe.

    Raises
    ------
    AnswerError
        Listing the problems that cannot be repaired safely.
    """
    repairs: list[str] = []
    objects_in = data.get("objects")
    if not isinstance(objects_in, list) or not objects_in:
        raise AnswerError("'objects' must be a non-empty list of {id, name}")
    objects, sources, seen = [], {}, set()
    for i, o in enumerate(objects_in):
        if not isinstance(o, dict):
            raise AnswerError(f"objects[{i}] must be an object with id and name")
        oid, name = o.get("id"), o.get("name")
        if isinstance(oid, bool) or not isinstance(oid, int) or oid < 0:
            raise AnswerError(f"objects[{i}].id must be a non-negative integer")
        if not isinstance(name, str) or not name.strip():
            raise AnswerError(f"objects[{i}].name must be a non-empty string")
        if oid in seen:
            repairs.append(f"dropped objects[{i}] (id {oid} used twice)")
            continue
        seen.add(oid)
        objects.append({"id": oid, "name": name.strip()[:80]})
        src = o.get("source")
        if isinstance(src, int) and not isinstance(src, bool) and src >= 0:
            sources[oid] = src
    frames_in = data.get("keyframes")
    if not isinstance(frames_in, list) or not frames_in:
        raise AnswerError("'keyframes' must be a non-empty list of {time, caption, boxes}")
    keyframes = []
    for k, kf in enumerate(frames_in):
        if not isinstance(kf, dict):
            raise AnswerError(f"keyframes[{k}] must be an object")
        t = _num(kf.get("time"), f"keyframes[{k}].time")
        if t < 0 or t > duration:
            if t < -0.5 or t > duration + 0.5:
                raise AnswerError(f"keyframes[{k}].time={t:g} is outside the clip (0-{duration:g})")
            repairs.append(f"clamped keyframes[{k}].time {t:g} into the clip")
            t = min(max(t, 0.0), duration)
        boxes_in = kf.get("boxes", [])
        if not isinstance(boxes_in, list):
            raise AnswerError(f"keyframes[{k}].boxes must be a list")
        boxes, ids = [], set()
        for b, placement in enumerate(boxes_in):
            where = f"keyframes[{k}].boxes[{b}]"
            if not isinstance(placement, dict):
                raise AnswerError(f"{where} must be an object with id and box")
            oid = placement.get("id")
            if oid not in seen:
                repairs.append(f"dropped {where} (unknown object id {json.dumps(oid)[:20]})")
                continue
            if oid in ids:
                repairs.append(f"dropped {where} (object {oid} already placed)")
                continue
            box = placement.get("box")
            if not isinstance(box, list | tuple) or len(box) != 4:
                raise AnswerError(f"{where}.box must be [x0, y0, x1, y1]")
            x0, y0, x1, y1 = (_num(v, f"{where}.box") for v in box)
            fixed = [min(max(v, 0.0), 1.0) for v in (x0, y0, x1, y1)]
            if fixed != [x0, y0, x1, y1]:
                repairs.append(f"clamped {where}.box into the frame")
            x0, y0, x1, y1 = fixed
            if x0 > x1 or y0 > y1:
                repairs.append(f"ordered the corners of {where}.box")
                x0, x1 = sorted((x0, x1))
                y0, y1 = sorted((y0, y1))
            if x1 - x0 < 0.01 or y1 - y0 < 0.01:
                raise AnswerError(f"{where}.box has no area after clamping to the frame")
            ids.add(oid)
            boxes.append({"id": oid, "box": [x0, y0, x1, y1]})
        caption = kf.get("caption", "")
        if not isinstance(caption, str):
            caption = ""
            repairs.append(f"dropped a caption of keyframes[{k}] that was not text")
        keyframes.append({"time": t, "caption": caption[:1000], "boxes": boxes})
    order = sorted(range(len(keyframes)), key=lambda i: keyframes[i]["time"])
    if order != list(range(len(keyframes))):
        repairs.append("sorted the keyframes by time")
    keyframes = [keyframes[i] for i in order]
    unique = []
    for kf in keyframes:
        if unique and kf["time"] < unique[-1]["time"] + MIN_KEYFRAME_GAP_S:
            repairs.append(f"dropped a second keyframe at {kf['time']:g} s")
            continue
        unique.append(kf)
    caption = data.get("caption", "")
    reasoning = data.get("reasoning", "")
    layout_data = {
        "duration": duration,
        "width": width,
        "height": height,
        "caption": (caption if isinstance(caption, str) else "")[:2000],
        "reasoning": (reasoning if isinstance(reasoning, str) else "")[:20_000],
        "objects": objects,
        "keyframes": unique,
        "camera": camera,
    }
    try:
        layout = VSL.parse_obj_strict(layout_data, source="answer")
    except LayoutError as exc:
        raise AnswerError(str(exc)) from None
    return Repaired(layout=layout, repairs=repairs, sources=sources)

"""The VSL contract: valid layouts load, invalid ones are refused naming the problem."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spa2v.layout.vsl import VSL, LayoutError, vsl_json_schema

EXAMPLE = {
    "schema": "spa2v.vsl/1",
    "duration": 5.0,
    "width": 512,
    "height": 320,
    "caption": "A helicopter flies from the left to the right over a field.",
    "reasoning": "ITD -0.45 ms and ILD +9 dB at the start (left) -> moves left to right.",
    "objects": [{"id": 0, "name": "helicopter"}],
    "keyframes": [
        {
            "time": 0.25,
            "caption": "A helicopter appears on the left.",
            "boxes": [{"id": 0, "box": [0.05, 0.30, 0.30, 0.55]}],
        },
        {
            "time": 2.5,
            "caption": "It is above the centre.",
            "boxes": [{"id": 0, "box": [0.40, 0.20, 0.62, 0.45]}],
        },
        {
            "time": 4.75,
            "caption": "It leaves on the right.",
            "boxes": [{"id": 0, "box": [0.70, 0.30, 0.95, 0.55]}],
        },
    ],
}


def test_the_issue_example_is_valid_and_round_trips(tmp_path: Path) -> None:
    vsl = VSL.parse_obj_strict(EXAMPLE)
    path = vsl.save(tmp_path / "layout.json")
    again = VSL.load(path)
    assert again == vsl
    assert json.loads(path.read_text())["schema"] == "spa2v.vsl/1"


def test_extra_fields_are_kept() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["planner"] = "mine"
    doc["keyframes"][0]["note"] = "hello"
    vsl = VSL.parse_obj_strict(doc)
    out = json.loads(vsl.to_json())
    assert out["planner"] == "mine" and out["keyframes"][0]["note"] == "hello"


def _broken(path: list, value) -> dict:
    doc = copy.deepcopy(EXAMPLE)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()

CASES = [
    (
        ["keyframes", 1, "boxes", 0, "box"],
        [0.5, 0.2, 0.4, 0.4],
        "keyframes[1].boxes[0].box",
        "x0=0.5 must be less than x1=0.4",
    ),
    (
        ["keyframes", 1, "boxes", 0, "box"],
        [0.1, 0.5, 0.4, 0.2],
        "keyframes[1].boxes[0].box",
        "y0=0.5 must be less than y1=0.2",
    ),
    (
        ["keyframes", 0, "boxes", 0, "box"],
        [-0.1, 0.2, 0.4, 0.4],
        "keyframes[0].boxes[0].box",
        "outside [0, 1]",
    ),
    (["keyframes", 0, "boxes", 0, "box"], [0.1, 0.2, 0.4], "keyframes[0].boxes[0].box", ""),
    (["keyframes", 2, "boxes", 0, "id"], 7, "keyframes[2].boxes[0].id=7 names no object", ""),
    (["keyframes", 1, "time"], 0.1, "keyframes[1].time=0.1 must be greater", ""),
    (["keyframes", 2, "time"], 6.0, "keyframes[2].time=6 is after the end", ""),
    (["duration"], 0, "duration", "greater than 0"),
    (["duration"], float("nan"), "duration", ""),
    (["objects"], [], "objects", "at least 1"),
    (["objects", 0, "name"], "   ", "objects[0].name", "blank"),
    (["schema"], "spa2v.vsl/2", "schema", ""),
    (["caption"], _DELETE, "caption", "required"),
    (["width"], 3, "width", "greater than or equal to 16"),
]


@pytest.mark.parametrize(("path", "value", "where", "what"), CASES)
def test_invalid_layouts_name_the_field_and_problem(path, value, where, what) -> None:
    with pytest.raises(LayoutError) as info:
        VSL.parse_obj_strict(_broken(path, value), source="layout.json")
    text = str(info.value)
    assert text.startswith("layout.json: invalid layout: ")
    assert where in text and what in text


def test_duplicate_ids() -> None:
    doc = _broken(["objects"], [{"id": 0, "name": "a"}, {"id": 0, "name": "b"}])
    with pytest.raises(LayoutError, match="used by more than one object"):
        VSL.parse_obj_strict(doc)
    doc = copy.deepcopy(EXAMPLE)
    doc["keyframes"][0]["boxes"].append({"id": 0, "box": [0.1, 0.1, 0.2, 0.2]})
    with pytest.raises(LayoutError, match=r"keyframes\[0\]\.boxes: .*more than once"):
        VSL.parse_obj_strict(doc)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="no such file"):
        VSL.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LayoutError, match="not valid JSON"):
        VSL.load(bad)


def test_schema_is_generated_from_the_model() -> None:
    schema = vsl_json_schema()
    assert schema["$id"] == "spa2v.vsl/1"
    assert {"duration", "caption", "objects", "keyframes"} <= set(schema["required"])
    assert "origin top-left" in json.dumps(schema)


def test_interpolation_is_smooth_and_stays_between_keyframes() -> None:
    vsl = VSL.parse_obj_strict(EXAMPLE)
    boxes = vsl.interpolate(48)[0]
    assert boxes.shape == (48, 4) and np.isfinite(boxes).all()
    centres = (boxes[:, 0] + boxes[:, 2]) / 2
    assert np.all(np.diff(centres) >= -1e-9)  # monotone left to right, as the keyframes
    assert centres[0] == pytest.approx(0.175) and centres[-1] == pytest.approx(0.825)
    assert np.all(boxes[:, 0] < boxes[:, 2]) and np.all(boxes[:, 1] < boxes[:, 3])


def test_absent_objects_are_not_visible() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["objects"].append({"id": 1, "name": "cow"})
    doc["keyframes"][0]["boxes"].append({"id": 1, "box": [0.1, 0.6, 0.3, 0.9]})
    vsl = VSL.parse_obj_strict(doc)
    cow = vsl.interpolate(np.array([0.0, 0.25, 1.0, 4.0]))[1]
    assert np.isfinite(cow[:2]).all() and np.isnan(cow[2:]).all()


# ----------------------------------------------------------------- property tests
coord = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def valid_vsl(draw) -> dict:
    duration = draw(st.floats(0.5, 30.0))
    n_obj = draw(st.integers(1, 3))
    raw = draw(st.lists(st.floats(0.0, duration), min_size=1, max_size=8))
    times = sorted({round(t, 2) for t in raw if round(t, 2) <= duration}) or [0.0]
    keyframes = []
    for t in times:
        boxes = []
        for i in range(n_obj):
            if draw(st.booleans()) or i == 0:
                x0, x1 = sorted(draw(st.tuples(coord, coord)))
                y0, y1 = sorted(draw(st.tuples(coord, coord)))
                if x1 - x0 < 1e-3 or y1 - y0 < 1e-3:
                    x0, x1, y0, y1 = 0.1, 0.3, 0.2, 0.5
                boxes.append({"id": i, "box": [x0, y0, x1, y1]})
        keyframes.append({"time": t, "caption": "", "boxes": boxes})
    return {
        "duration": duration,
        "caption": "x",
        "objects": [{"id": i, "name": f"thing {i}"} for i in range(n_obj)],
        "keyframes": keyframes,
    }


@settings(max_examples=60, deadline=None)
@given(valid_vsl(), st.integers(1, 120))
def test_any_valid_layout_interpolates_inside_the_frame(doc: dict, n_frames: int) -> None:
    vsl = VSL.parse_obj_strict(doc)
    assert VSL.from_json(vsl.to_json()) == vsl
    for boxes in vsl.interpolate(n_frames).values():
        seen = boxes[np.isfinite(boxes).all(axis=1)]
        assert np.all((seen >= 0) & (seen <= 1))
        assert np.all(seen[:, 0] <= seen[:, 2]) and np.all(seen[:, 1] <= seen[:, 3])


@settings(max_examples=80, deadline=None)
@given(valid_vsl(), st.sampled_from(["x0", "order", "time", "id", "nan", "type"]))
def test_any_corruption_is_refused_with_a_message(doc: dict, how: str) -> None:
    kf = doc["keyframes"][-1]
    box = kf["boxes"][0]["box"]
    if how == "x0":
        box[0] = 1.5
    elif how == "order":
        box[0], box[2] = box[2], box[0]
        if box[0] == box[2]:
            box[2] = box[0]
    elif how == "time":
        kf["time"] = doc["duration"] + 1.0
    elif how == "id":
        kf["boxes"][0]["id"] = 99
    elif how == "nan":
        box[1] = math.nan
    else:
        kf["boxes"] = "not a list"
    with pytest.raises(LayoutError) as info:
        VSL.parse_obj_strict(doc)
    assert "keyframes[" in str(info.value)

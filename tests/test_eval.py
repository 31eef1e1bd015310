"""Evaluation: metrics against hand-computed cases, AV-Align, the benchmark and its CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spa2v.cli import app
from spa2v.evaluation.avalign import av_align, box_adherence, evaluate_video
from spa2v.evaluation.bench import make_benchmark, read_manifest, run_benchmark, summarise
from spa2v.evaluation.layout import doc_sim, iou_matrix, layout_similarity, lt_sim, max_iou
from spa2v.evaluation.spatial import compare_layouts
from spa2v.layout.vsl import VSL
from spa2v.media.video import AUDIO_SR, VideoWriter

A = [0.0, 0.0, 0.5, 0.5]
B = [0.25, 0.25, 0.75, 0.75]
C = [0.5, 0.5, 1.0, 1.0]


def test_iou_and_max_iou_by_hand() -> None:
    # A and B overlap in a 0.25 x 0.25 square: 0.0625 / (0.25 + 0.25 - 0.0625) = 1/7
    assert iou_matrix([A], [B])[0, 0] == pytest.approx(1 / 7)
    # GIoU of A and C: IoU 0, hull 1, union 0.5 -> 0 - 0.5 / 1
    assert iou_matrix([A], [C], generalized=True)[0, 0] == pytest.approx(-0.5)
    # best matching of {A, C} with {C, B}: A-B (1/7) and C-C (1): mean over 2 elements
    assert max_iou(np.array([A, C]), ["o", "o"], np.array([C, B]), ["o", "o"]) == pytest.approx(
        (1 + 1 / 7) / 2
    )
    # a missing element counts as 0; different labels never match
    assert max_iou(np.array([A]), ["o"], np.array([A, C]), ["o", "o"]) == pytest.approx(0.5)
    assert max_iou(np.array([A]), ["cow"], np.array([A]), ["dog"]) == 0.0


def test_lt_sim_by_hand() -> None:
    assert lt_sim(np.array([A]), ["o"], np.array([A]), ["o"]) == pytest.approx(1.0)
    # A vs C: GIoU -0.5 -> cost 0.5 * (1 - 0.25) = 0.375
    assert lt_sim(np.array([A]), ["o"], np.array([C]), ["o"]) == pytest.approx(math.exp(-0.375))
    # different labels add 0.5
    assert lt_sim(np.array([A]), ["a"], np.array([A]), ["b"]) == pytest.approx(math.exp(-0.5))
    # two elements against one: half the mass each -> mean cost (0 + 0.375) / 2
    assert lt_sim(np.array([A, C]), ["o", "o"], np.array([A]), ["o"]) == pytest.approx(
        math.exp(-0.1875)
    )


def test_doc_sim_by_hand() -> None:
    a = [0.1, 0.1, 0.3, 0.5]  # 0.2 x 0.4, area 0.08
    b = [0.2, 0.1, 0.4, 0.5]  # the same box moved 0.1 to the right
    expected = math.sqrt(0.08) * 2 ** (-0.1)
    assert doc_sim(np.array([a]), ["o"], np.array([b]), ["o"]) == pytest.approx(expected)
    # size difference: widths 0.2 vs 0.3 -> Δs 0.1, weighted by 2; area min 0.08
    c = [0.1, 0.1, 0.4, 0.5]
    dc = math.hypot(0.05, 0)
    assert doc_sim(np.array([a]), ["o"], np.array([c]), ["o"]) == pytest.approx(
        math.sqrt(0.08) * 2 ** (-dc - 0.2)
    )
    assert doc_sim(np.array([a]), ["o"], np.array([a, b, c, a]), ["o"] * 4) == 0.0


def _layout(boxes_over_time: list[list[list[float]]], names: list[str]) -> VSL:
    n = len(boxes_over_time)
    return VSL(
        duration=float(n),
        caption="test",
        objects=[{"id": k, "name": nm} for k, nm in enumerate(names)],
        keyframes=[
            {"time": float(i) + 0.5, "boxes": [{"id": k, "box": b} for k, b in enumerate(bs)]}
            for i, bs in enumerate(boxes_over_time)
        ],
    )


def _mirror(layout: VSL) -> VSL:
    data = layout.model_dump(by_alias=True)
    for kf in data["keyframes"]:
        for b in kf["boxes"]:
            x0, y0, x1, y1 = b["box"]
            b["box"] = [1 - x1, y0, 1 - x0, y1]
    return VSL.model_validate(data)


MOVING = _layout(
    [[[0.05, 0.5, 0.25, 0.8], [0.7, 0.5, 0.9, 0.8]], [[0.3, 0.5, 0.5, 0.8], [0.7, 0.5, 0.9, 0.8]],
     [[0.55, 0.4, 0.8, 0.8], [0.7, 0.5, 0.9, 0.8]], [[0.7, 0.3, 0.98, 0.8], [0.7, 0.5, 0.9, 0.8]]],
    ["car", "dog"],
)  # fmt: skip


def test_identical_layouts_score_perfectly() -> None:
    sim = layout_similarity(MOVING, MOVING)
    assert sim["max_iou"] == pytest.approx(1.0) and sim["ltsim"] == pytest.approx(1.0)
    assert sim["docsim"] >= layout_similarity(_mirror(MOVING), MOVING)["docsim"]
    cmp = compare_layouts(MOVING, MOVING)
    assert cmp["count_ok"]
    for o in cmp["objects"]:
        assert o["side_ok"] and o["motion_ok"] and o["trend_ok"] and o["centre_error"] < 1e-9
    s = summarise([{**layout_similarity(MOVING, MOVING), **cmp}])
    assert s["side_acc"] == 1.0 and s["rank_corr"] == pytest.approx(1.0)


def test_mirrored_layouts_fail_side_and_motion() -> None:
    cmp = compare_layouts(_mirror(MOVING), MOVING)
    dog = next(o for o in cmp["objects"] if o["side"] == "right")
    car = next(o for o in cmp["objects"] if o["motion"] == "left_to_right")
    assert not dog["side_ok"] and not car["motion_ok"]
    assert layout_similarity(_mirror(MOVING), MOVING)["max_iou"] < 0.5


def _clip_with_motion_on_onsets(tmp_path: Path, *, shuffle: bool) -> tuple[Path, Path]:
    rng = np.random.default_rng(5)
    fps, seconds = 24, 6.0
    onsets = np.sort(rng.uniform(0.3, seconds - 0.3, 9))
    onsets = onsets[np.concatenate([[True], np.diff(onsets) > 0.35])]
    t = np.arange(int(seconds * AUDIO_SR)) / AUDIO_SR
    y = np.zeros_like(t)
    for o in onsets:
        seg = (t >= o) & (t < o + 0.12)
        y[seg] += rng.standard_normal(seg.sum()) * np.exp(-(t[seg] - o) / 0.03)
    y = 0.5 * y / np.max(np.abs(y))
    audio = tmp_path / "a.wav"
    from scipy.io import wavfile

    wavfile.write(audio, AUDIO_SR, (np.stack([y, y]).T * 32767).astype(np.int16))
    n = int(seconds * fps)
    pos = np.zeros(n, int)
    x = 40
    for i in range(n):  # the square jumps when a sound starts
        if np.any(np.abs(onsets - i / fps) < 0.5 / fps):
            x = int(rng.integers(20, 220))
        pos[i] = x
    frames = []
    for i in range(n):
        f = np.full((96, 256, 3), 30, np.uint8)
        f[30:70, pos[i] : pos[i] + 30] = (240, 200, 40)
        frames.append(f)
    if shuffle:
        frames = [frames[i] for i in rng.permutation(n)]
    video = tmp_path / "v.mp4"
    with VideoWriter(video, width=256, height=96, fps=fps) as w:
        for f in frames:
            w.write(f)
    return video, audio


def test_av_align_high_for_onset_driven_motion_low_when_shuffled(tmp_path: Path) -> None:
    aligned = evaluate_video(*_clip_with_motion_on_onsets(tmp_path, shuffle=False))
    (tmp_path / "s").mkdir()
    shuffled = evaluate_video(*_clip_with_motion_on_onsets(tmp_path / "s", shuffle=True))
    assert aligned["audio_peaks"] >= 5
    assert aligned["av_align"] > 0.6
    assert shuffled["av_align"] < 0.35
    assert av_align(np.array([]), np.array([]), 24) == 1.0


def test_box_adherence_of_the_storyboard() -> None:
    assert box_adherence(MOVING, fps=6) == 1.0


def test_benchmark_make_and_run(tmp_path: Path) -> None:
    manifest = make_benchmark(tmp_path / "b", scenes=12, seed=7, workers=2)
    rows = read_manifest(tmp_path / "b")
    assert len(rows) == 12 and manifest.exists()
    assert {r["condition"] for r in rows} == {"clean", "reverberant", "noisy"}
    assert {r["mic"] for r in rows} == {"head", "spaced", "coincident", "panned"}
    again = make_benchmark(tmp_path / "c", scenes=12, seed=7, workers=1)
    assert again.read_text() == manifest.read_text().replace(
        str(tmp_path / "b"), str(tmp_path / "c")
    )
    for r in rows:
        assert (tmp_path / "b" / r["audio"]).exists() and (tmp_path / "b" / r["layout"]).exists()
    results = run_benchmark(tmp_path / "b", planner="cues", workers=2)
    assert len(results) == 12
    s = summarise(results)
    assert 0 <= s["max_iou"] <= 1 and 0 < s["ltsim"] <= 1 and s["side_acc"] > 0.5
    with pytest.raises(Exception, match="not empty"):
        make_benchmark(tmp_path / "b", scenes=2)


def test_cli_bench_and_eval(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["bench", "make", str(tmp_path / "b"), "--scenes", "8",
                               "--seed", "3", "--workers", "2"]).exit_code == 0  # fmt: skip
    result = runner.invoke(app, ["bench", "run", str(tmp_path / "b"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "b" / "results" / "cues"
    doc = json.loads((out / "results.json").read_text())
    assert doc["overall"]["clips"] == 8 and "baseline" in doc
    report = (out / "report.md").read_text()
    assert "## By condition" in report and (out / "conditions.png").exists()
    assert (out / "examples.png").exists()
    # eval layouts on the saved predictions
    gt, scores = str(tmp_path / "b" / "gt"), str(tmp_path / "e.json")
    result = runner.invoke(app, ["eval", "layouts", "--pred", str(out / "layouts"),
                                 "--gt", gt, "-o", scores])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e.json").read_text())["overall"]["clips"] == 8
    # bad input: one line, status 2
    for args, message in (
        (["bench", "run", str(tmp_path)], "no manifest"),
        (["eval", "layouts", "--pred", str(tmp_path / "no"), "--gt", "."], "not a folder"),
        (["eval", "video", str(tmp_path / "no.mp4"), "--audio", str(tmp_path)], "no such file"),
        (["bench", "run", str(tmp_path / "b"), "--planner", "oracle"], "unknown planner"),
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_eval_layouts_writes_strict_json(tmp_path: Path) -> None:
    box = {"id": 0, "box": [0.1, 0.3, 0.3, 0.6]}
    one = VSL(duration=2.0, caption="A bell.", objects=[{"id": 0, "name": "bell"}],
              keyframes=[{"time": 0.0, "boxes": [box]}])  # fmt: skip
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    one.save(tmp_path / "gt" / "a.json")
    one.save(tmp_path / "pred" / "a.json")
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["eval", "layouts", "--pred", str(tmp_path / "pred"),
                                      "--gt", str(tmp_path / "gt"), "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    doc = json.loads(out.read_text(), parse_constant=refuse)
    # a still object has no rank correlation: null, where json.dumps would write NaN
    assert doc["overall"]["rank_corr"] is None


def test_metric_conventions_strict_and_reference_by_hand() -> None:
    """Frame 1: the same single box; frame 2: one box against two (A vs A, C); a third
    layout pair has an empty frame on both sides."""
    # frame level
    one, two = np.array([A]), np.array([A, C])
    assert max_iou(one, ["o"], two, ["o", "o"]) == pytest.approx(0.5)  # strict: 1 / 2
    assert max_iou(one, ["o"], two, ["o", "o"], convention="reference") is None  # skipped
    assert max_iou(two, ["o", "o"], np.array([C, A]), ["o", "o"],
                   convention="reference") == pytest.approx(1.0)  # fmt: skip
    empty = np.zeros((0, 4))
    assert max_iou(empty, [], empty, []) == 1.0
    assert max_iou(empty, [], empty, [], convention="reference") is None
    assert doc_sim(empty, [], empty, []) == 1.0
    assert doc_sim(empty, [], empty, [], convention="reference") == 0.0
    # clip level: frames at 0.25 and 0.75 s (rate 2 per second over 1 s)
    gt = VSL(
        duration=1.0,
        caption="",
        objects=[{"id": 0, "name": "o"}, {"id": 1, "name": "o"}],
        keyframes=[
            {"time": 0.25, "boxes": [{"id": 0, "box": A}]},
            {"time": 0.75, "boxes": [{"id": 0, "box": A}, {"id": 1, "box": C}]},
        ],
    )
    pred = VSL(duration=1.0, caption="", objects=[{"id": 0, "name": "o"}],
               keyframes=[{"time": 0.25, "boxes": [{"id": 0, "box": A}]},
                          {"time": 0.75, "boxes": [{"id": 0, "box": A}]}])  # fmt: skip
    strict = layout_similarity(pred, gt, rate_hz=2.0)
    reference = layout_similarity(pred, gt, rate_hz=2.0, convention="reference")
    assert strict["max_iou"] == pytest.approx((1.0 + 0.5) / 2) and strict["max_iou_frames"] == 2
    assert reference["max_iou"] == pytest.approx(1.0) and reference["max_iou_frames"] == 1
    # LTSim is the same in both: frame 2 moves half the mass from A to C (cost 0.375 / 2)
    expected = (1.0 + math.exp(-0.1875)) / 2
    assert strict["ltsim"] == reference["ltsim"] == pytest.approx(expected)
    with pytest.raises(Exception, match="convention must be strict or reference"):
        layout_similarity(pred, gt, convention="paper")

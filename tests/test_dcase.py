"""The DCASE2025 stereo SELD format: import as a benchmark, export of predictions, scores.

Small label and audio files are written here in the documented format (no dataset needed).
"""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spa2v.audio.synth import SceneSource, Trajectory, render_scene
from spa2v.cli import app
from spa2v.evaluation.dcase import (
    FOV_DEG,
    HEADER,
    LabelError,
    LabelRow,
    class_of,
    clip_scores,
    import_dcase2025,
    read_labels,
    screen_x,
    write_rows,
)
from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL

SPLIT = "dev-test-sony"

#: frame 0-9: two "male speech" sources at once (sources 1 and 2, one on each side), frames
#: 10-14 nothing (an empty stretch), frames 15-29 a door off screen at 70° to the left
LABELS = [
    *(LabelRow(f, 1, 1, 30.0, 200.0, 1) for f in range(10)),
    *(LabelRow(f, 1, 2, -20.0, 400.0, 1) for f in range(10)),
    *(LabelRow(f, 7, 0, 70.0, 300.0, 0) for f in range(15, 30)),
]


def _write_clip(root: Path, name: str, rows: list[LabelRow], audio: np.ndarray | None = None,
                sr: int = 24_000) -> None:  # fmt: skip
    from scipy.io import wavfile

    (root / "metadata_dev" / SPLIT).mkdir(parents=True, exist_ok=True)
    (root / "stereo_dev" / SPLIT).mkdir(parents=True, exist_ok=True)
    write_rows(rows, root / "metadata_dev" / SPLIT / f"{name}.csv")
    if audio is None:
        audio = np.zeros((int(5.0 * sr), 2), dtype=np.int16)
    wavfile.write(root / "stereo_dev" / SPLIT / f"{name}.wav", sr, audio)


def test_import_draws_on_screen_sources_and_keeps_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "DCASE2025 dataset é"
    _write_clip(root, "fold4_room23_mix001_deg000_start0000", LABELS)
    manifest = import_dcase2025(root, tmp_path / "bench", split="dev-test")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["n_sources"] == 3 and rows[0]["family"] == "3+ source(s)"
    bench = tmp_path / "bench"
    gt = VSL.load(bench / rows[0]["layout"])
    # left to right: the door (70°), the speaker at 30°, the one at -20°
    assert [o.name for o in gt.objects] == ["door", "man speaking", "man speaking"]
    drawn = {b.id: b.box for b in gt.keyframes[0].boxes}  # at 0.25 s: frame 2
    assert set(drawn) == {1, 2}  # the door is off screen (and silent): not drawn
    camera = Camera(fov_deg=FOV_DEG, width=640, height=360)  # spa2v's camera, the 100° view
    for oid, az in ((1, 30.0), (2, -20.0)):
        found = camera.azimuth_of_box(drawn[oid], gt.objects[oid].name)
        assert found == pytest.approx(az, abs=0.01)
    assert (gt.width, gt.height) == (640, 360)
    # the dataset's own (pinhole) position of a source at 30°
    assert screen_x(30.0) == pytest.approx(0.5 - 0.5 * math.tan(math.radians(30)) /
                                           math.tan(math.radians(FOV_DEG / 2)))  # fmt: skip
    # the ground truth scored against its own labels: no error, full agreement
    own = clip_scores(gt, bench / rows[0]["truth"])
    assert max(own["az_errors_deg"]) < 0.01 and set(own["onscreen_agree"]) == {1}
    # nearer is bigger: 2 m vs 4 m
    size = {k: (b[2] - b[0]) * (b[3] - b[1]) for k, b in drawn.items()}
    assert size[1] > size[2]
    assert all(not kf.boxes for kf in gt.keyframes if 1.0 < kf.time < 1.5)  # the empty stretch
    truth = json.loads((bench / rows[0]["truth"]).read_text())
    door = next(t for t in truth["tracks"] if t["class"] == 7)
    assert door["frames"] == list(range(15, 30)) and set(door["onscreen"]) == {0}
    meta = json.loads((bench / "benchmark.json").read_text())
    assert meta["fov_deg"] == 100.0 and meta["frame_size"] == [640, 360]
    assert (bench / rows[0]["audio"]).is_file()


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("frame,class,source,azimuth,distance\n", 1, "expected the header"),
        (",".join(HEADER) + "\n0,1,1,30,200,1\n1,1,1,30,200\n", 3, "expected 6"),
        (",".join(HEADER) + "\n0,13,1,30,200,1\n", 2, "class 13"),
        (",".join(HEADER) + "\n0,1,1,thirty,200,1\n", 2, "not a number"),
        (",".join(HEADER) + "\n0,1,1,30,200,2\n", 2, "onscreen is 2"),
        (",".join(HEADER) + "\n0,1,1,200,200,1\n", 2, "azimuth 200"),
        ("", 1, "expected the header .* got an empty file"),
        ("\n" + ",".join(HEADER) + "\n", 1, "expected the header"),
        (",".join(HEADER) + "\n0.7,1,1,30,200,1\n", 2, "not a number \\(an integer"),
        (",".join(HEADER) + "\n0,1,1,30,nan,1\n", 2, "distance nan"),
    ],
)
def test_malformed_labels_name_file_and_line(tmp_path: Path, text: str, line: int,
                                             what: str) -> None:  # fmt: skip
    path = tmp_path / "bad ü.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match=f"bad ü.csv line {line}: {what}"):
        read_labels(path)


def test_a_malformed_label_file_stops_the_import_with_one_line(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _write_clip(root, "a", LABELS)
    _write_clip(root, "b", LABELS)
    (root / "metadata_dev" / SPLIT / "b.csv").write_text(",".join(HEADER) + "\n0,1,1\n")
    result = CliRunner().invoke(app, ["bench", "import", "dcase2025", str(root),
                                      str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 2 and "b.csv line 2: expected 6" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["bench", "import", "dcase2025", str(tmp_path),
                                      str(tmp_path / "out2")])  # fmt: skip
    assert result.exit_code == 2 and "no metadata_dev folder" in result.output


def test_clips_left_out_and_frames_beyond_the_clip(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _write_clip(root, "a_good", LABELS)
    _write_clip(root, "b_empty", [])  # no event: the generator writes such clips
    _write_clip(root, "c_mono", LABELS, audio=np.zeros((24_000, 1), np.int16))
    _write_clip(root, "d_no_audio", LABELS)
    (root / "stereo_dev" / SPLIT / "d_no_audio.wav").unlink()
    manifest = import_dcase2025(root, tmp_path / "bench")
    assert [json.loads(x)["name"] for x in manifest.read_text().splitlines()] == ["a_good"]
    meta = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert {x["name"]: x["why"] for x in meta["left_out"]} == {
        "b_empty": "no event",
        "c_mono": "1 channel(s), not stereo",
        "d_no_audio": "no audio",
    }
    (root / "stereo_dev" / SPLIT / "a_good.wav").unlink()
    (root / "metadata_dev" / SPLIT / "c_mono.csv").unlink()
    with pytest.raises(Exception, match="no clip to import"):
        import_dcase2025(root, tmp_path / "bench2")
    _write_clip(root, "e_long", [LabelRow(60, 1, 0, 0.0, 100.0, 1)])  # frame 60 of 50
    with pytest.raises(LabelError, match=r"e_long\.csv line 2: frame 60 is beyond"):
        import_dcase2025(root, tmp_path / "bench3")


def test_an_interrupted_import_resumes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for k in range(4):
        _write_clip(root, f"clip{k}", LABELS[:10])
    out = tmp_path / "bench"

    def stop(done: int, total: int | None) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_dcase2025(root, out, progress=stop)
    assert not (out / "manifest.jsonl").exists()  # not a benchmark yet
    manifest = import_dcase2025(root, out)
    names = [json.loads(line)["name"] for line in manifest.read_text().splitlines()]
    assert names == ["clip0", "clip1", "clip2", "clip3"]
    with pytest.raises(Exception, match="already holds a benchmark"):
        import_dcase2025(root, out)  # finished: a new import needs a new folder
    # a kill in the middle of a manifest line: the torn line is dropped, its clip redone
    torn = tmp_path / "torn"
    with pytest.raises(KeyboardInterrupt):
        import_dcase2025(root, torn, progress=stop)
    part = torn / "manifest.jsonl.part"
    part.write_text(part.read_text()[:-15])
    names = [json.loads(x)["name"] for x in import_dcase2025(root, torn).read_text().splitlines()]
    assert names == ["clip0", "clip1", "clip2", "clip3"]
    with pytest.raises(KeyboardInterrupt):
        import_dcase2025(root, tmp_path / "other", progress=stop)
    with pytest.raises(Exception, match=r"interrupted import of .* \(split dev-test\)"):
        import_dcase2025(root, tmp_path / "other", split="all")


def test_the_import_streams(tmp_path: Path) -> None:
    """Memory does not grow with the number of clips: 20 vs 200 clips of 3 sources × 50
    frames each (held all at once, 200 clips' labels alone would take several MB)."""
    root = tmp_path / "data"
    rows = [LabelRow(f, c, 1, 40.0 - 30 * c, 200.0, 1) for f in range(50) for c in range(3)]
    for k in range(200):
        _write_clip(root, f"clip{k:03d}", rows, audio=np.zeros((120_000, 2), np.int16))
    peaks = {}
    import_dcase2025(root, tmp_path / "warm-up", limit=3)  # lazy imports, caches: not counted
    for n in (20, 200):
        tracemalloc.start()
        import_dcase2025(root, tmp_path / f"b{n}", limit=n)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[200] < 1.5 * peaks[20] + 300_000, peaks  # not 10x


def _scene(duration_s: float = 5.0):
    """A clean synthetic stereo scene: a steady source (a vacuum cleaner) static at 35° left."""
    return render_scene([SceneSource("vacuum", "noise", Trajectory.static(35.0, 2.0))],
                        duration_s=duration_s, mic="head", sr=24_000, seed=3)  # fmt: skip


def _truth_rows(truth, cls: int) -> list[LabelRow]:
    """The scene's truth as DCASE rows (what a labelled clip holds)."""
    t = np.asarray(truth.times_s)
    rows = []
    for k in range(int(round(truth.duration_s / 0.1))):
        for sid, src in enumerate(truth.sources):
            az = float(np.interp((k + 0.5) * 0.1, t, src.azimuth_deg))
            dist = float(np.interp((k + 0.5) * 0.1, t, src.distance_m)) * 100
            rows.append(LabelRow(k, cls, sid, az, dist, int(abs(az) <= FOV_DEG / 2)))
    return rows


def test_round_trip_export_import_and_the_measured_sources(tmp_path: Path) -> None:
    scene = _scene()
    root = tmp_path / "data"
    rows = _truth_rows(scene.truth, cls=5)
    (root / "stereo_dev" / SPLIT).mkdir(parents=True)
    scene.save(root / "stereo_dev" / SPLIT / "talk.wav")
    write_rows(rows, (root / "metadata_dev" / SPLIT).mkdir(parents=True) or
               root / "metadata_dev" / SPLIT / "talk.csv")  # fmt: skip
    import_dcase2025(root, tmp_path / "bench")
    back = json.loads((tmp_path / "bench" / "truth" / "talk.truth.json").read_text())["tracks"]
    assert len(back) == 1 and back[0]["frames"] == [r.frame for r in rows]
    assert np.allclose(back[0]["azimuth_deg"], [r.azimuth_deg for r in rows], atol=0.5)
    # spa2v's measured source as a prediction file, read back by the same parser
    result = CliRunner().invoke(app, ["cues", str(root / "stereo_dev" / SPLIT / "talk.wav"),
                                      "--format", "dcase", "-o", str(tmp_path / "pred.csv"),
                                      "--label", "vacuum cleaner", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    pred = read_labels(tmp_path / "pred.csv")
    assert {r.cls for r in pred} == {class_of("vacuum cleaner")} == {5}
    assert len({r.frame for r in pred}) >= 45  # heard in (nearly) all of the 50 frames
    errors = [abs(r.azimuth_deg - 35.0) for r in pred]
    assert np.median(errors) < 10.0 and all(r.onscreen == 1 for r in pred)


def test_bench_run_reports_azimuth_error_on_screen_agreement_and_counts(tmp_path: Path) -> None:
    scene = _scene()
    root = tmp_path / "data"
    (root / "stereo_dev" / SPLIT).mkdir(parents=True)
    (root / "metadata_dev" / SPLIT).mkdir(parents=True)
    scene.save(root / "stereo_dev" / SPLIT / "talk.wav")
    write_rows(_truth_rows(scene.truth, cls=5), root / "metadata_dev" / SPLIT / "talk.csv")
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "import", "dcase2025", str(root),
                                 str(tmp_path / "bench")])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["bench", "run", str(tmp_path / "bench"), "--no-baseline",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "bench" / "results" / "cues" / "results.json").read_text())
    overall = doc["overall"]
    assert overall["az_error_deg"] < 10.0 and overall["onscreen_acc"] == 1.0
    assert doc["by_family"]["1 source(s)"]["count_acc"] == 1.0
    assert "az.err°" in result.output and "on/off" in result.output
    report = (tmp_path / "bench" / "results" / "cues" / "report.md").read_text()
    assert "az_error_deg" in report and "| 1 source(s) |" in report
    # predictions for the official scorer, named as the label files
    official = read_labels(
        tmp_path / "bench" / "results" / "cues" / "dcase" / "talk.csv", predictions=True
    )
    assert official and {r.cls for r in official} == {-1}  # no names given: no class


def test_scores_of_a_layout_against_labels(tmp_path: Path) -> None:
    """A planned object 10° off, and one source off screen that the plan draws on screen."""
    from spa2v.layout.camera import Camera

    truth = {"tracks": [
        {"class": 1, "source": 1, "frames": list(range(50)), "azimuth_deg": [20.0] * 50,
         "distance_cm": [200.0] * 50, "onscreen": [1] * 50},
        {"class": 7, "source": 0, "frames": list(range(50)), "azimuth_deg": [-80.0] * 50,
         "distance_cm": [300.0] * 50, "onscreen": [0] * 50}]}  # fmt: skip
    path = tmp_path / "t.json"
    path.write_text(json.dumps(truth))
    cam = Camera(fov_deg=FOV_DEG)

    def box(az: float) -> list[float]:
        x = float(cam.x_of(az))
        return [x - 0.05, 0.4, x + 0.05, 0.6]

    kfs = [{"time": t, "boxes": [{"id": 0, "box": box(30.0)}, {"id": 1, "box": box(-40.0)}]}
           for t in (0.25, 2.25, 4.75)]  # fmt: skip
    pred = VSL(
        duration=5.0,
        caption="",
        objects=[{"id": 0, "name": "man"}, {"id": 1, "name": "door"}],
        keyframes=kfs,
    )
    scores = clip_scores(pred, path, fov_deg=FOV_DEG)
    assert np.allclose(sorted(set(np.round(scores["az_errors_deg"], 1))), [10.0, 40.0])
    # the talker: on screen both ways; the door: off screen, but drawn at -40° (in view)
    assert scores["onscreen_agree"] == [1, 0] * 3


def test_class_names() -> None:
    from spa2v.evaluation.dcase import CLASSES

    for k, (official, drawn, _) in enumerate(CLASSES):  # both names map back to the class
        assert class_of(official) == class_of(drawn) == k
    assert class_of("Female speech, woman speaking") == 0
    assert class_of("woman") == 0 and class_of("man speaking") == 1
    assert class_of("door") == 7 and class_of("acoustic guitar") == 9
    assert class_of("helicopter") is None and class_of(None) is None


def test_a_source_never_on_screen_counts_but_has_no_position_to_compare(tmp_path: Path) -> None:
    from spa2v.evaluation.spatial import compare_layouts

    root = tmp_path / "data"
    _write_clip(root, "c", LABELS)  # the door stays off screen
    import_dcase2025(root, tmp_path / "bench")
    gt = VSL.load(tmp_path / "bench" / "gt" / "c.layout.json")
    scores = compare_layouts(gt, gt)
    assert scores["count_ok"] and scores["n_gt"] == 3
    assert len(scores["objects"]) == 2 and all(o["side_ok"] for o in scores["objects"])


def test_a_mono_recording_has_no_azimuth_to_export(tmp_path: Path) -> None:
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    wavfile.write(
        tmp_path / "mono.wav", 24_000, (rng.standard_normal(48_000) * 3000).astype(np.int16)
    )
    result = CliRunner().invoke(app, ["cues", str(tmp_path / "mono.wav"), "--format", "dcase",
                                      "-o", str(tmp_path / "p.csv"), "-q"])  # fmt: skip
    assert result.exit_code == 2 and "no azimuth to export" in result.output
    assert not (tmp_path / "p.csv").exists()

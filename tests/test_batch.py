"""Batch runs: good and bad files, resume after a crash, manifests, the Ray engine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spa2v.audio.synth import render_preset
from spa2v.batch import discover, run_batch
from spa2v.errors import ParameterError

OPTIONS = {"fps": 6.0, "width": 128, "height": 80}


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for k, preset in enumerate(("static-left", "passby", "static-right")):
        render_preset(preset, duration_s=1.5, seed=k).save(src / f"clip{k}.wav")
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    (src / "notes.txt").write_text("not audio")
    return src


def test_good_files_done_bad_recorded_and_a_second_run_does_nothing(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    summary = run_batch(folder, out, workers=2, config=OPTIONS)
    assert (summary["ok"], summary["error"], summary["skipped"]) == (3, 1, 0)
    for k in range(3):
        assert (out / f"clip{k}" / "video.mp4").exists() and (
            out / f"clip{k}" / "run.json"
        ).exists()
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    bad = next(x for x in lines if x["name"] == "broken")
    assert bad["status"] == "error" and "not a readable" in bad["error"]
    stamp = (out / "clip0" / "run.json").stat().st_mtime_ns
    again = run_batch(folder, out, workers=2, config=OPTIONS)
    assert (again["ok"], again["error"], again["skipped"]) == (0, 0, 4)
    assert (out / "clip0" / "run.json").stat().st_mtime_ns == stamp
    assert len((out / "results.jsonl").read_text().splitlines()) == len(lines)
    retry = run_batch(folder, out, config=OPTIONS, retry_failed=True)
    assert (retry["error"], retry["skipped"]) == (1, 3)


def test_an_interrupted_run_resumes_cleanly(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.wav").unlink()
    for k in range(3, 6):
        render_preset("static-centre", duration_s=1.5, seed=k).save(folder / f"clip{k}.wav")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spa2v.cli", "batch", str(folder), "-o", str(out), "--fps", "6",
           "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    log = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash, mid-way
    proc.wait()
    done_before = {json.loads(x)["name"] for x in log.read_text().splitlines()}
    assert 2 <= len(done_before) < 6
    # the item that was being written has no run.json: it is not counted as done
    half = [d for d in out.iterdir() if d.is_dir() and not (d / "run.json").exists()]
    summary = run_batch(folder, out, config={"fps": 6.0})
    assert summary["skipped"] == len(done_before)
    assert summary["ok"] == 6 - len(done_before) and summary["error"] == 0
    for k in range(6):
        assert (out / f"clip{k}" / "run.json").exists()
    for d in half:
        assert (d / "video.mp4").exists()


def test_manifests(folder: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(f"path,labels,name\n{folder / 'clip0.wav'},cow,first\n"
                        "in/clip2.wav,dog,\n")  # fmt: skip
    items = discover(csv_path)
    assert [i.name for i in items] == ["first", "clip2"]
    assert items[0].config.planning.labels == ["cow"] and Path(items[1].audio).exists()
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(json.dumps({"path": str(folder / "clip1.wav"), "labels": ["car"]}) + "\n")
    out = tmp_path / "out"
    summary = run_batch(jsonl, out, config=OPTIONS)
    assert summary["ok"] == 1
    layout = json.loads((out / "clip1" / "layout.json").read_text())
    assert [o["name"] for o in layout["objects"]] == ["car"]
    for bad, message in ((tmp_path / "nope", "no such"), (folder / "notes.txt", "manifest")):
        with pytest.raises(ParameterError, match=message):
            discover(bad)


def test_ray_engine_gives_the_same_outputs(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (folder / "broken.wav").unlink()
    local = run_batch(folder, tmp_path / "local", workers=2, config=OPTIONS)
    ray = run_batch(folder, tmp_path / "ray", workers=2, engine="ray", config=OPTIONS)
    assert local["ok"] == ray["ok"] == 3
    for k in range(3):
        a = json.loads((tmp_path / "local" / f"clip{k}" / "layout.json").read_text())
        b = json.loads((tmp_path / "ray" / f"clip{k}" / "layout.json").read_text())
        assert a == b
        va = (tmp_path / "local" / f"clip{k}" / "video.mp4").stat().st_size
        vb = (tmp_path / "ray" / f"clip{k}" / "video.mp4").stat().st_size
        assert abs(va - vb) <= 0.02 * va


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spa2v.cli", *args], cwd=cwd, timeout=timeout,
                          capture_output=True, text=True)  # fmt: skip


def _lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_a_relative_folder_with_spaces_and_accents_from_another_directory(tmp_path: Path) -> None:
    work = tmp_path / "my work"
    src = work / "clips été"
    src.mkdir(parents=True)
    render_preset("static-left", duration_s=1.0, seed=1).save(src / "vache à gauche.wav")
    (work / "list dir").mkdir()
    (work / "list dir" / "list.csv").write_text(
        "path,labels\n../clips été/vache à gauche.wav,cow\n", encoding="utf-8")  # fmt: skip
    done = _cli("batch", "clips été", "-o", "out put", "--fps", "6", "-q", cwd=work)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in _lines(work / "out put")] == ["ok"]
    assert (work / "out put" / "vache_à_gauche" / "video.mp4").stat().st_size > 0
    # manifest paths are relative to the manifest's own folder, not to the working directory
    done = _cli("batch", "list dir/list.csv", "-o", "from csv", "--fps", "6", "-q", cwd=work)
    assert done.returncode == 0, done.stderr
    layout = json.loads((work / "from csv" / "vache_à_gauche" / "layout.json").read_text())
    assert [o["name"] for o in layout["objects"]] == ["cow"]


BAD_ROWS = [
    ({"path": "a.wav", "labels": "dog"}, "labels"),
    ({"path": "a.wav", "sources": "two"}, "sources"),
    ({"path": "a.wav", "seed": -1}, "seed"),
    ({"path": 5}, "path"),
    ({"path": None}, "path"),
    ({"path": "a.wav", "fps": "fast"}, "fps"),
    ({"path": "a.wav", "planner": "magic"}, "planner"),
    ({"path": "a.wav", "colour": "red"}, "colour"),
    ({"path": "a.wav", "labels": ["a", "b"], "sources": 3}, "label"),
    ([1, 2], "object"),
    ({"path": "a.wav", "render": {"model": "/m"}}, "render.model"),  # model is a diffusion field
    ({"path": "a.wav", "diffusion": {"steps": "many"}}, "diffusion.steps"),
    ({"path": "a.wav", "diffusion": 3}, "diffusion"),
]


def test_bad_manifest_rows_are_their_items_errors_and_the_batch_goes_on(
    folder: Path, tmp_path: Path
) -> None:
    rows = [{"path": str(folder / "clip0.wav")}] + [r for r, _ in BAD_ROWS]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    items = discover(jsonl)
    assert len(items) == len(rows) + 1 and items[0].error is None
    for item, (_, field_name) in zip(items[1:], BAD_ROWS, strict=False):
        assert item.error is not None and field_name in item.error, item.error
    assert "not JSON" in (items[-1].error or "")
    summary = run_batch(jsonl, tmp_path / "out", config=OPTIONS)
    assert (summary["ok"], summary["error"]) == (1, len(rows))
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text(
        f"path,fps,seed\n{folder / 'clip1.wav'},fast,1\n{folder / 'clip2.wav'},6,2\n"
    )
    items = discover(csv_path)
    assert "fps" in (items[0].error or "") and items[1].error is None
    assert items[1].config.given() == {"render": {"fps": 6.0, "seed": 2}}


def test_a_bad_option_for_every_item_stops_before_any_work(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="seed"):
        run_batch(folder, tmp_path / "out", config={"seed": -1})
    assert not (tmp_path / "out").exists()


def test_lines_lost_in_an_interruption_are_restored_and_failures_keep_the_exit_status(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(folder, out, config=OPTIONS)
    # as if the batch had been stopped after clip1 finished but before its line was written,
    # and a stale "ok" line stood for a folder that was removed since
    kept = [r for r in _lines(out) if r["name"] != "clip1"]
    kept.append({"name": "gone", "status": "ok"})
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    again = run_batch(folder, out, config=OPTIONS)
    assert (again["ok"], again["error"], again["failed_before"], again["failed"]) == (0, 0, 1, 1)
    names = [r["name"] for r in _lines(out)]
    assert sorted(n for n in names if n != "gone") == ["broken", "clip0", "clip1", "clip2"]
    assert next(r for r in _lines(out) if r["name"] == "clip1")["reconciled"] is True
    shutil.rmtree(out / "clip2")
    third = run_batch(folder, out, config=OPTIONS)
    assert third["ok"] == 1 and names.count("clip2") == 1
    assert sum(r["name"] == "clip2" for r in _lines(out)) == 1
    done = _cli("batch", str(folder), "-o", str(out), "--fps", "6", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "failed in an earlier run" in done.stderr


def test_leftovers_of_a_killed_run_are_removed_when_the_item_is_redone(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    item = out / "clip0"
    (item / ".spa2v-stage.abc123").mkdir(parents=True)
    (item / ".spa2v-stage.abc123" / "video.mp4").write_bytes(b"half")
    (item / ".video.mp4.x1y2.mp4").write_bytes(b"half")
    (item / "notes.txt").write_text("mine")
    run_batch(folder, out, config=OPTIONS)
    assert sorted(p.name for p in item.iterdir()) == sorted(
        ["cues.json", "cues.png", "layout.json", "notes.txt", "run.json", "video.mp4"]
    )


def test_an_unreachable_ray_address_fails_fast(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    t0 = time.monotonic()
    with pytest.raises(ParameterError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
        run_batch(folder, tmp_path / "out", engine="ray", address="127.0.0.1:1")
    assert time.monotonic() - t0 < 30


def _procs(field: int, value: int) -> list[int]:
    """Live processes (zombies excluded) whose /proc stat ``field`` is ``value``: 1 = parent,
    2 = process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("fault", ["sigint-parent", "sigint-group", "sigkill-parent",
                                   "sigkill-worker"])  # fmt: skip
def test_faults_then_a_rerun_leave_one_line_per_item_and_no_process(
    tmp_path: Path, fault: str
) -> None:
    import random

    import av

    from spa2v.layout.vsl import VSL

    rng = random.Random(fault)
    src = tmp_path / "in"
    src.mkdir()
    for k in range(10):
        render_preset("passby", duration_s=1.5, seed=k).save(src / f"c{k}.wav")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spa2v.cli", "batch", "in", "-o", "out", "--workers", "2",
           "--fps", "6", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    log = out / "results.jsonl"
    wanted = rng.randint(1, 5)
    deadline = time.time() + 120
    while time.time() < deadline and (
        not log.exists() or len(log.read_text().splitlines()) < wanted
    ):
        time.sleep(0.05)
    time.sleep(rng.uniform(0, 0.5))
    if fault == "sigint-parent":
        os.kill(proc.pid, signal.SIGINT)
    elif fault == "sigint-group":
        os.killpg(proc.pid, signal.SIGINT)
    elif fault == "sigkill-parent":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        workers = _procs(1, proc.pid)
        assert workers, "no worker process"
        os.kill(rng.choice(workers), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    if fault.startswith("sigint"):
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr.decode()
    time.sleep(2 * 0.2 + 1)  # workers notice a dead parent within PARENT_POLL_S
    assert _procs(2, proc.pid) == []
    again = _cli("batch", "in", "-o", "out", "--workers", "2", "--fps", "6", "-q", cwd=tmp_path)
    assert again.returncode in (0, 1), again.stderr
    names = [r["name"] for r in _lines(out)]
    assert sorted(names) == sorted(f"c{k}" for k in range(10)), names
    for folder in out.iterdir():
        if folder.is_dir() and (folder / "run.json").exists():
            VSL.load(folder / "layout.json")
            with av.open(str(folder / "video.mp4")) as container:
                assert container.streams.video and container.streams.audio
            assert not list(folder.glob(".spa2v-stage.*"))
    failed = [r for r in _lines(out) if r["status"] != "ok"]
    if fault == "sigkill-worker":
        assert len(failed) <= 1 and again.returncode == len(failed)
        assert all("ended unexpectedly" in r["error"] for r in failed)
    else:
        assert failed == [] and again.returncode == 0


FIELDS = ["path", "name", "labels", "sources", "planner", "generator", "keyframes",
          "keyframe_rate", "fov_deg", "width", "height", "fps", "seed", "overlay", "tagger",
          "colour", "", "render", "diffusion", "steps", "model"]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip


def _check_items(items: list, n_rows: int) -> None:
    from spa2v.config import RunConfig

    assert len(items) == n_rows
    assert len({it.name for it in items}) == n_rows  # one output folder per item
    for it in items:
        assert it.name and "/" not in it.name and it.name not in (".", "..")
        if it.error is None:  # a valid row: its options pass the model again as they are
            assert RunConfig.build(it.config.given()) == it.config
        else:
            assert "internal" not in it.error and it.config == RunConfig()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rows=st.lists(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5)
                     | JSON_VALUES, min_size=1, max_size=5))  # fmt: skip
def test_fuzzed_jsonl_rows_are_items_or_their_errors(tmp_path: Path, rows: list) -> None:
    manifest = tmp_path / "fuzz.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _check_items(discover(manifest), len(rows))


CELL = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=8,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(cells=st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=4),
       header=st.lists(st.sampled_from(FIELDS[1:-2]), max_size=3, unique=True))  # fmt: skip
def test_fuzzed_csv_rows_are_items_or_their_errors(
    tmp_path: Path, cells: list, header: list
) -> None:
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["path", *header])
    writer.writerows(cells)
    manifest = tmp_path / "fuzz.csv"
    manifest.write_text(text.getvalue(), encoding="utf-8")
    try:
        items = discover(manifest)
    except ParameterError as exc:  # only for a manifest with no row at all
        assert "no recordings" in str(exc)
        return
    _check_items(items, len(items))


def test_adding_a_recording_does_not_rename_or_redo_the_others(tmp_path: Path) -> None:
    src = tmp_path / "coll"
    src.mkdir()
    for k, name in enumerate(("a b.wav", "a_b.wav")):  # both become "a_b"
        render_preset("static-left", duration_s=1.0, seed=k).save(src / name)
    out = tmp_path / "out"
    assert run_batch(src, out, config=OPTIONS)["ok"] == 2
    stamps = {d.name: (d / "run.json").stat().st_mtime_ns for d in out.iterdir() if d.is_dir()}
    render_preset("static-right", duration_s=1.0, seed=9).save(src / "a b.WAV")
    again = run_batch(src, out, config=OPTIONS)
    assert (again["ok"], again["skipped"]) == (1, 2)
    for name, stamp in stamps.items():
        assert (out / name / "run.json").stat().st_mtime_ns == stamp
    lines = _lines(out)
    assert len(lines) == 3 and len({r["name"] for r in lines}) == 3
    for r in lines:  # each folder was made from its own recording
        assert json.loads((out / r["name"] / "run.json").read_text())["input"] == r["audio"]


def test_a_folder_made_from_another_recording_is_not_done(folder: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    out = tmp_path / "out"
    manifest.write_text(json.dumps({"path": str(folder / "clip0.wav"), "name": "x"}) + "\n")
    assert run_batch(manifest, out, config=OPTIONS)["ok"] == 1
    manifest.write_text(json.dumps({"path": str(folder / "clip2.wav"), "name": "x"}) + "\n")
    again = run_batch(manifest, out, config=OPTIONS)
    assert (again["ok"], again["skipped"]) == (1, 0)
    assert json.loads((out / "x" / "run.json").read_text())["input"].endswith("clip2.wav")
    assert len(_lines(out)) == 1


def test_a_missing_backend_stops_the_batch_before_any_item(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spa2v.errors import Spa2vError

    monkeypatch.setitem(sys.modules, "diffusers", None)
    out = tmp_path / "out"
    with pytest.raises(Spa2vError, match=r"spa2v\[diffusion\]"):
        run_batch(folder, out, config={**OPTIONS, "generator": "diffusion"})
    assert not out.exists()
    with pytest.raises(ParameterError, match="--engine ray"):
        run_batch(folder, out, address="127.0.0.1:6379")


def test_one_writer_per_folder_and_a_failed_run_leaves_no_folder(
    folder: Path, tmp_path: Path
) -> None:
    import spa2v
    from spa2v.errors import AudioError
    from spa2v.media.files import FolderBusyError, folder_lock

    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):  # as if another batch were writing there
        with pytest.raises(FolderBusyError, match="another spa2v process"):
            run_batch(folder, out, config=OPTIONS)
        with pytest.raises(FolderBusyError):
            spa2v.run(folder / "clip0.wav", out, force=True, fps=6.0)
    with pytest.raises(AudioError):
        spa2v.run(folder / "broken.wav", tmp_path / "new", fps=6.0)
    assert not (tmp_path / "new").exists()


def test_an_invalid_row_keeps_its_name(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.wav", "name": "mine", "labels": "dog"}) + "\n")
    (item,) = discover(manifest)
    assert item.name == "mine" and "labels" in (item.error or "")


def test_what_a_killed_worker_left_of_a_failed_item_is_removed(
    folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(folder, out, config=OPTIONS)
    shutil.rmtree(out / "clip1")
    (out / "clip1" / ".spa2v-stage.abc").mkdir(parents=True)  # killed mid-item ...
    lines = [r if r["name"] != "clip1" else {**r, "status": "error", "error": "killed"}
             for r in _lines(out)]  # fmt: skip
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    again = run_batch(folder, out, config=OPTIONS)  # ... and recorded as failed: not redone
    assert again["failed_before"] == 2 and again["ok"] == 0
    assert not (out / "clip1").exists()

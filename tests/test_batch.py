"""Batch runs: good and bad files, resume after a crash, manifests, the Ray engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    summary = run_batch(folder, out, workers=2, options=OPTIONS)
    assert (summary["ok"], summary["error"], summary["skipped"]) == (3, 1, 0)
    for k in range(3):
        assert (out / f"clip{k}" / "video.mp4").exists() and (
            out / f"clip{k}" / "run.json"
        ).exists()
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    bad = next(x for x in lines if x["name"] == "broken")
    assert bad["status"] == "error" and "not a readable" in bad["error"]
    stamp = (out / "clip0" / "run.json").stat().st_mtime_ns
    again = run_batch(folder, out, workers=2, options=OPTIONS)
    assert (again["ok"], again["error"], again["skipped"]) == (0, 0, 4)
    assert (out / "clip0" / "run.json").stat().st_mtime_ns == stamp
    assert len((out / "results.jsonl").read_text().splitlines()) == len(lines)
    retry = run_batch(folder, out, options=OPTIONS, retry_failed=True)
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
    summary = run_batch(folder, out, options={"fps": 6.0})
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
    assert items[0].options["labels"] == ["cow"] and Path(items[1].audio).exists()
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(json.dumps({"path": str(folder / "clip1.wav"), "labels": ["car"]}) + "\n")
    out = tmp_path / "out"
    summary = run_batch(jsonl, out, options=OPTIONS)
    assert summary["ok"] == 1
    layout = json.loads((out / "clip1" / "layout.json").read_text())
    assert [o["name"] for o in layout["objects"]] == ["car"]
    for bad, message in ((tmp_path / "nope", "no such"), (folder / "notes.txt", "manifest")):
        with pytest.raises(ParameterError, match=message):
            discover(bad)


def test_ray_engine_gives_the_same_outputs(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (folder / "broken.wav").unlink()
    local = run_batch(folder, tmp_path / "local", workers=2, options=OPTIONS)
    ray = run_batch(folder, tmp_path / "ray", workers=2, engine="ray", options=OPTIONS)
    assert local["ok"] == ray["ok"] == 3
    for k in range(3):
        a = json.loads((tmp_path / "local" / f"clip{k}" / "layout.json").read_text())
        b = json.loads((tmp_path / "ray" / f"clip{k}" / "layout.json").read_text())
        assert a == b
        va = (tmp_path / "local" / f"clip{k}" / "video.mp4").stat().st_size
        vb = (tmp_path / "ray" / f"clip{k}" / "video.mp4").stat().st_size
        assert abs(va - vb) <= 0.02 * va

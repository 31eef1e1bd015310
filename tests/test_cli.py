"""The command line: what a new user types, including the mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile
from typer.testing import CliRunner

from spa2v.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo.wav"
    result = _run(
        "synth", str(out), "--preset", "static-right", "--duration", "2", "--mic", "spaced"
    )
    assert result.exit_code == 0, result.output
    return out


def test_synth_writes_audio_and_truth(tmp_path: Path) -> None:
    wav, truth = tmp_path / "s.wav", tmp_path / "s.json"
    result = _run("synth", str(wav), "--preset", "passby", "--duration", "3", "--truth", str(truth))
    assert result.exit_code == 0, result.output
    sr, data = wavfile.read(wav)
    assert sr == 48_000 and data.shape == (144_000, 2)
    doc = json.loads(truth.read_text())
    assert doc["sources"][0]["motion"] == "left_to_right"


def test_cues_writes_json_and_plot(tmp_path: Path, demo_wav: Path) -> None:
    out, plot = tmp_path / "cues.json", tmp_path / "cues.png"
    result = _run("cues", str(demo_wav), "-o", str(out), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["summary"]["side"] == "right"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000
    assert "right" in result.output  # the summary table


def test_cues_to_stdout_is_json(demo_wav: Path) -> None:
    result = _run("cues", str(demo_wav), "--quiet")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "spa2v.cues/1"


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "error:" in text
    for needle in needles:
        assert needle in text


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(_run("cues", str(tmp_path / "nope.wav")), "no such file")


def test_corrupt_file_keeps_an_existing_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 3)
    out = tmp_path / "cues.json"
    out.write_text("previous result")
    _one_line_error(_run("cues", str(bad), "-o", str(out)))
    assert out.read_text() == "previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav", "cues.json"]


def test_silent_file(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    wavfile.write(path, 48_000, np.zeros((48_000, 2), np.int16))
    _one_line_error(_run("cues", str(path)), "silent")


def test_mono_file_warns_and_works(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    t = np.arange(48_000) / 48_000
    wavfile.write(path, 48_000, (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16))
    result = _run("cues", str(path), "-o", str(tmp_path / "c.json"))
    assert result.exit_code == 0
    assert "warning:" in result.output and "mono" in result.output


def test_many_channels_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "quad.wav"
    wavfile.write(
        path,
        48_000,
        (np.random.default_rng(0).standard_normal((48_000, 4)) * 3000).astype(np.int16),
    )
    _one_line_error(_run("cues", str(path)), "--channels")
    assert _run("cues", str(path), "--channels", "0,1", "-q").exit_code == 0
    _one_line_error(_run("cues", str(path), "--channels", "left"), "--channels")


def test_bad_option_values(demo_wav: Path) -> None:
    _one_line_error(_run("cues", str(demo_wav), "--sr", "1000"), "1000 Hz")
    _one_line_error(_run("cues", str(demo_wav), "--hop-s", "0"), "--hop-s")
    _one_line_error(_run("synth", "x.wav", "--mic", "ribbon"), "--mic")
    _one_line_error(_run("synth", "x.wav", "--preset", "nowhere"), "unknown preset")


def test_version_and_help() -> None:
    assert _run("--version").stdout.startswith("spa2v ")
    help_text = _run("cues", "--help").stdout
    assert "--plot" in help_text and "--channels" in help_text


def test_outputs_and_synth_options_are_checked_before_any_work(
    tmp_path: Path, demo_wav: Path
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    wav = tmp_path / "ok.wav"
    _one_line_error(_run("synth", str(wav), "--truth", str(blocker / "t.json")), "not a folder")
    _one_line_error(_run("synth", str(wav), "--snr", "nan"), "snr_db")
    _one_line_error(_run("synth", str(wav), "--seed", "-1"), "seed")
    assert not wav.exists()  # nothing was written before the error
    _one_line_error(_run("cues", str(demo_wav), "-o", str(tmp_path)), "is a folder")
    out = tmp_path / "c.json"
    _one_line_error(_run("cues", str(demo_wav), "-o", str(out), "--plot", str(blocker / "p.png")),
                    "not a folder")  # fmt: skip
    assert not out.exists()
    _one_line_error(_run("plan", str(demo_wav), "-o", str(tmp_path)), "is a folder")
    bench = tmp_path / "bm"
    _one_line_error(_run("bench", "make", str(bench), "--seed", "-1", "--scenes", "2"), "seed")
    assert not bench.exists()


def test_serve_refuses_bad_options_before_starting() -> None:
    import socket

    pytest.importorskip("gradio")
    _one_line_error(_run("serve", "--max-upload-mb", "-1"), "--max-upload-mb")
    _one_line_error(_run("serve", "--port", "70000"), "--port")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--port", str(port))
        _one_line_error(result, f"127.0.0.1:{port}", "--port")
        assert "serving on" not in result.output


def test_plot_type_and_seed_are_refused_before_writing(tmp_path: Path, demo_wav: Path) -> None:
    out = tmp_path / "c.json"
    _one_line_error(_run("cues", str(demo_wav), "-o", str(out), "--plot", str(tmp_path / "p.xyz")),
                    "'.xyz'", ".png")  # fmt: skip
    assert not out.exists()
    layout = tmp_path / "l.json"
    assert _run("plan", str(demo_wav), "-o", str(layout), "-q").exit_code == 0
    _one_line_error(_run("render", str(layout), "-o", str(tmp_path / "v.mp4"), "--seed", "-1"),
                    "seed")  # fmt: skip
    assert not (tmp_path / "v.mp4").exists()


def test_web_user_errors_are_one_line_in_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    gr = pytest.importorskip("gradio")
    from spa2v.web import _user_error

    error = _user_error(gr, "demo.wav: the audio is silent", "Cannot process this file")
    assert isinstance(error, gr.Error) and error.print_exception is False
    assert capsys.readouterr().err == (
        "spa2v serve: cannot process this file: demo.wav: the audio is silent\n"
    )

"""End to end: ``spa2v run`` / ``spa2v render`` and their Python twins, with bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_media
from typer.testing import CliRunner

import spa2v
from spa2v.cli import app
from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL
from spa2v.media.video import probe_video

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def duet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("duet") / "duet.wav"
    result = _cli("synth", str(out), "--preset", "duet", "--duration", "2.5")
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_everything(tmp_path: Path, duet: Path) -> None:
    out = tmp_path / "out"
    result = _cli("run", str(duet), "-o", str(out), "--label", "cow", "--label", "helicopter",
                  "--overlay", "--fps", "12")  # fmt: skip
    assert result.exit_code == 0, result.output
    names = {"layout.json", "cues.json", "cues.png", "video.mp4", "video_overlay.mp4", "run.json"}
    assert {p.name for p in out.iterdir()} == names
    layout = VSL.load(out / "layout.json")
    assert [o.name for o in layout.objects] == ["cow", "helicopter"]
    for video in ("video.mp4", "video_overlay.mp4"):
        info = probe_video(out / video)
        assert info["frames"] == round(layout.duration * 12)
        assert info["audio_channels"] == 2
        assert abs(info["audio_duration_s"] - info["video_duration_s"]) <= 1 / 12
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["planning"]["labels"] == ["cow", "helicopter"]
    assert record["config"]["render"]["fps"] == 12
    assert set(record["timings_s"]) == {"cues", "plan", "plot", "render"}
    assert record["versions"]["spa2v"] == spa2v.__version__
    assert "video:" in result.output


def test_run_refuses_a_non_empty_folder_unless_forced(tmp_path: Path, duet: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("mine")
    result = _cli("run", str(duet), "-o", str(out), "-q")
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    result = _cli("run", str(duet), "-o", str(out), "-q", "--force", "--fps", "8")
    assert result.exit_code == 0, result.output
    assert (out / "video.mp4").exists() and keep.read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "0"], "frame rate"),
        (["--width", "511"], "even"),
        (["--generator", "sora"], "unknown generator"),
        (["--planner", "oracle"], "unknown planner"),
        (["--sources", "5"], "1-3"),
    ],
)
def test_run_bad_options_fail_before_any_work(
    tmp_path: Path, duet: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = _cli("run", str(duet), "-o", str(out), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_run_bad_audio(tmp_path: Path) -> None:
    missing = _cli("run", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "a"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    corrupt = _cli("run", str(bad), "-o", str(tmp_path / "b"))
    assert corrupt.exit_code == 2 and "error:" in corrupt.output
    assert not (tmp_path / "b" / "video.mp4").exists()
    silent = write_media(tmp_path / "silent.wav", np.zeros((2, 48000)), 48000)
    result = _cli("run", str(silent), "-o", str(tmp_path / "c"))
    assert result.exit_code == 2 and "silent" in result.output


def test_run_mono_warns_and_still_makes_a_video(tmp_path: Path) -> None:
    t = np.arange(48000 * 2) / 48000
    mono = write_media(tmp_path / "mono.wav", 0.3 * np.sin(2 * np.pi * 300 * t)[None], 48000)
    result = _cli("run", str(mono), "-o", str(tmp_path / "out"), "--fps", "8")
    assert result.exit_code == 0, result.output
    assert "mono" in result.output
    assert probe_video(tmp_path / "out" / "video.mp4")["audio_channels"] == 2
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("is mono" in w for w in record["warnings"])  # kept with the result


def test_run_json_notes_the_runs_warnings_and_the_caller_still_gets_them(
    tmp_path: Path, duet: Path
) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = spa2v.run(duet, tmp_path / "out", labels=["cow", "helicopter", "dog"], fps=4)
    record = json.loads(result.files["run"].read_text())
    assert [w for w in record["warnings"] if "dog not localised" in w]
    assert [w for w in caught if "dog not localised" in str(w.message)]
    quiet = spa2v.run(duet, tmp_path / "quiet", labels=["cow", "helicopter"], fps=4)
    assert "warnings" not in json.loads(quiet.files["run"].read_text())


def test_render_command(tmp_path: Path, duet: Path) -> None:
    layout = tmp_path / "layout.json"
    assert _cli("plan", str(duet), "-o", str(layout), "-q").exit_code == 0
    video = tmp_path / "v.mp4"
    result = _cli("render", str(layout), "--audio", str(duet), "-o", str(video), "--overlay",
                  "--fps", "10", "--seed", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    info = probe_video(video)
    assert info["frames"] == round(VSL.load(layout).duration * 10)
    assert info["audio_channels"] == 2
    silent = tmp_path / "silent.mp4"
    assert _cli("render", str(layout), "-o", str(silent), "-q").exit_code == 0
    assert probe_video(silent)["audio_channels"] == 0


def test_render_bad_input(tmp_path: Path, duet: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"duration": 1, "caption": "x", "objects": [], "keyframes": []}')
    result = _cli("render", str(bad), "-o", str(tmp_path / "v.mp4"))
    assert result.exit_code == 2 and "objects" in result.output
    assert "Traceback" not in result.output
    layout = tmp_path / "layout.json"
    assert _cli("plan", str(duet), "-o", str(layout), "-q").exit_code == 0
    result = _cli("render", str(layout), "-o", str(tmp_path / "v.avi"))
    assert result.exit_code == 2 and ".mp4" in result.output
    result = _cli("render", str(layout), "-o", str(tmp_path / "v.mp4"), "--audio", "nope.wav")
    assert result.exit_code == 2 and "no such file" in result.output
    assert not (tmp_path / "v.mp4").exists()


def test_python_api(tmp_path: Path, duet: Path) -> None:
    result = spa2v.run(duet, tmp_path / "out", labels=["cow", "helicopter"], fps=8)
    assert result.files["video"].exists() and result.layout.objects[1].name == "helicopter"
    again = spa2v.render(result.files["layout"], tmp_path / "again.mp4", audio=duet, fps=8)
    assert probe_video(again)["frames"] == probe_video(result.files["video"])["frames"]
    with pytest.raises(ParameterError, match="not empty"):
        spa2v.run(duet, tmp_path / "out")


def test_render_refuses_audio_and_a_layout_of_other_lengths(tmp_path: Path, duet: Path) -> None:
    layout = VSL(
        duration=1.0,
        caption="A bell.",
        objects=[{"id": 0, "name": "bell"}],
        keyframes=[{"time": 0.5, "boxes": [{"id": 0, "box": [0.4, 0.3, 0.6, 0.7]}]}],
    )
    path = tmp_path / "short.json"
    layout.save(path)
    video = tmp_path / "v.mp4"
    result = _cli("render", str(path), "--audio", str(duet), "-o", str(video), "--fps", "10")
    assert result.exit_code == 2, result.output
    assert "1.000 s" in result.output and "2.500 s" in result.output
    assert not video.exists()
    # within one frame is the same length: the soundtrack is trimmed to the video
    layout.model_copy(update={"duration": 2.5 - 0.09}).save(path)
    result = _cli("render", str(path), "--audio", str(duet), "-o", str(video), "--fps", "10")
    assert result.exit_code == 0, result.output
    info = probe_video(video)
    assert info["frames"] == 24
    assert abs(info["audio_duration_s"] - 2.4) <= 0.05


def test_help_shows_the_extras_in_brackets() -> None:
    # Rich markup would eat "[ui]"; the help must show what to install
    for cmd, extra in (("serve", "[ui]"), ("run", "[llm]"), ("run", "[diffusion]")):
        result = runner.invoke(app, [cmd, "--help"], env={"COLUMNS": "200"})
        assert extra in result.output, (cmd, extra)


def test_run_refuses_to_write_over_its_own_input(tmp_path: Path, duet: Path) -> None:
    out = tmp_path / "out"
    assert _cli("run", str(duet), "-o", str(out), "-q", "--fps", "8").exit_code == 0
    video = out / "video.mp4"
    before = video.read_bytes()
    result = _cli("run", str(video), "-o", str(out), "--force", "-q")
    assert result.exit_code == 2 and "one of the files this run would write" in result.output
    assert video.read_bytes() == before

"""Package-level promises: light imports, bounded memory for long files."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from spa2v.audio.cues import analyze_file


def test_import_does_not_pull_in_torch_or_plotting() -> None:
    code = (
        "import sys, spa2v, spa2v.cli, spa2v.audio.cues, spa2v.audio.synth, spa2v.api, "
        "spa2v.generation.render, spa2v.generation.animatic, spa2v.media.video, "
        "spa2v.generation.diffusion, spa2v.generation.diffusion.generator, "
        "spa2v.planning.llm.planner, spa2v.tagging, spa2v.tagging.models; "
        "bad = [m for m in ('torch', 'diffusers', 'transformers', 'matplotlib', 'openai', "
        "'google.genai') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _write_noise_wav(path: Path, seconds: float, sr: int = 48_000) -> None:
    rng = np.random.default_rng(0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sr)
        for _ in range(int(seconds)):
            block = (rng.standard_normal((sr, 2)) * 3000).astype("<i2")
            w.writeframes(block.tobytes())


def _peak_mb(path: Path) -> float:
    tracemalloc.start()
    try:
        analyze_file(path)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_duration(tmp_path: Path) -> None:
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    _write_noise_wav(short, 15)
    _write_noise_wav(long, 90)
    peak_short, peak_long = _peak_mb(short), _peak_mb(long)
    # the per-frame results grow (~0.5 kB per 20 ms frame); the audio never sits in memory
    assert peak_long < peak_short + 12.0, (peak_short, peak_long)
    assert peak_long < 80.0


def _render_peak_mb(tmp_path: Path, seconds: float) -> float:
    from spa2v.generation.render import render_video
    from spa2v.layout.vsl import VSL

    layout = VSL(
        duration=seconds,
        width=160,
        height=96,
        caption="A dog runs across a field.",
        objects=[{"id": 0, "name": "dog"}],
        keyframes=[
            {"time": 0.0, "boxes": [{"id": 0, "box": [0.0, 0.4, 0.3, 0.9]}]},
            {"time": seconds, "boxes": [{"id": 0, "box": [0.7, 0.4, 1.0, 0.9]}]},
        ],
    )
    tracemalloc.start()
    try:
        render_video(layout, tmp_path / f"v{seconds:g}.mp4", fps=24)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_render_memory_does_not_grow_with_duration(tmp_path: Path) -> None:
    # frames are streamed to the encoder: 5x the frames (each 46 kB) must not cost 5x memory
    short, long = _render_peak_mb(tmp_path, 3.0), _render_peak_mb(tmp_path, 15.0)
    assert long < short + 2.0, (short, long)


def test_the_public_api_is_typed_for_type_checkers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mypy = pytest.importorskip("mypy.api")
    import spa2v

    monkeypatch.setenv("MYPYPATH", str(Path(spa2v.__file__).parents[1]))
    use = tmp_path / "use.py"
    use.write_text("import spa2v\nfrom spa2v.config import RenderSettings\n"
                   "reveal_type(spa2v.run)\n"
                   "spa2v.run('a.wav', 'o', spa2v.RunConfig(render=RenderSettings(fps='fast')))\n"
                   "spa2v.run('a.wav', 'o', config=3)\n")
    out, _, _ = mypy.run([str(use), "--follow-imports=silent", "--ignore-missing-imports",
                          "--no-incremental", "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert "-> spa2v.api.RunResult" in out, out  # not Any: the real signature
    assert 'Argument "fps" to "RenderSettings" has incompatible type "str"' in out, out
    assert 'Argument "config" to "run" has incompatible type "int"' in out, out


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("diffusers", "diffusion", "from spa2v.generation.base import get_generator\n"
                                   "get_generator('diffusion').preflight()"),
        ("transformers", "tagging", "from spa2v.tagging import get_tagger\n"
                                    "get_tagger('ast').preflight()"),
        ("openai", "llm", "from spa2v.planning.llm.backends import OpenAIBackend\n"
                          "OpenAIBackend()"),
        ("google.genai", "llm", "from spa2v.planning.llm.backends import GeminiBackend\n"
                                "GeminiBackend()"),
        ("gradio", "ui", "from spa2v.web import build_app\nbuild_app()"),
        ("ray", "distributed", "from spa2v.batch import _ray\nnext(_ray([], '.', 1, None))"),
        ("cv2", "eval", "from spa2v.evaluation.avalign import _cv2\n_cv2()"),
    ],
)  # fmt: skip
def test_every_missing_extra_is_one_error_naming_it(
    module: str, extra: str, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spa2v.extras import ExtraMissingError

    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(ExtraMissingError, match=rf"pip install 'spa2v\[{extra}\]'") as caught:
        exec(call, {})
    assert caught.value.extra == extra and module in str(caught.value)

"""Audio tagging per source: tiny random-weight AST and CLAP, routing, mapping, smoothing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spa2v.audio.cues import CueParams, compute_cues
from spa2v.audio.synth import SceneSource, Trajectory, render_scene
from spa2v.cli import app
from spa2v.extras import ExtraMissingError
from spa2v.tagging import drawable, get_tagger, tag_sources
from spa2v.tagging.separate import source_signals

pytest.importorskip("transformers")
from tagging_models import LABELS, write_tiny_ast, write_tiny_clap


def test_mapping_to_drawable_things() -> None:
    assert drawable("Vehicle horn, car horn, honking") == "car"
    assert drawable("Speech") == "person"
    assert drawable("Bird vocalization, bird call, bird song") == "bird"
    assert drawable("Cattle, bovinae") == "cow"
    assert drawable("Helicopter") == "helicopter"
    for invisible in ("Silence", "White noise", "Reverberation", "Inside, small room", "Hum"):
        assert drawable(invisible) is None, invisible


@pytest.fixture(scope="module")
def duo() -> tuple:
    """A low, steady cow-like source on the left and a high bird-like one on the right."""
    scene = render_scene(
        [SceneSource("cow", "hum", Trajectory.static(60.0, 3.0)),
         SceneSource("bird", "chirps", Trajectory.static(-60.0, 3.0))],
        duration_s=4.0, mic="head", seed=4,
    )  # fmt: skip
    cues = compute_cues(scene.audio, sr=scene.sr, params=CueParams(n_sources=2))
    return scene, cues


class PitchTagger:
    """A stand-in model: strongest frequency low -> cattle, high -> bird (to test the routing)."""

    name = "pitch"
    sample_rate = 16000
    window_s = 2.0

    def __init__(self) -> None:
        self.calls: list[int] = []

    def scores(self, clips: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        self.calls.append(len(clips))
        out = np.zeros((len(clips), len(LABELS)))
        for i, c in enumerate(clips):
            spec = np.abs(np.fft.rfft(c))
            peak = float(np.fft.rfftfreq(c.size, 1 / self.sample_rate)[np.argmax(spec)])
            out[i, LABELS.index("Cattle, bovinae" if peak < 1000 else
                                "Bird vocalization, bird call, bird song")] = 0.9  # fmt: skip
        return LABELS, out


def test_each_source_is_tagged_from_its_own_signal(duo: tuple) -> None:
    scene, cues = duo
    signals = source_signals(scene.audio, scene.sr, cues)
    assert len(signals) == 2

    def high_share(y: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(y.size, 1 / scene.sr)
        return float(spec[f > 1500].sum() / spec.sum())

    assert high_share(signals[1]) > high_share(signals[0]) + 0.2  # right = bird = high
    tagger = PitchTagger()
    tags = tag_sources(scene.audio, scene.sr, cues, tagger, batch_size=3)
    assert [t.name for t in tags] == ["cow", "bird"]
    assert all(t.confidence == pytest.approx(0.9) for t in tags)
    assert max(tagger.calls) <= 3  # batched


def test_smoothing_over_the_sources_active_time(duo: tuple) -> None:
    scene, cues = duo

    class Fickle(PitchTagger):
        window_s = 1.0  # four windows per source

        def scores(self, clips):
            out = np.zeros((len(clips), len(LABELS)))
            for i in range(len(clips)):  # dog in two windows of three, speech in one
                self.calls.append(1)
                j = "Dog" if len(self.calls) % 3 else "Speech"
                out[i, LABELS.index(j)] = 0.8
            return LABELS, out

    tags = tag_sources(scene.audio, scene.sr, cues, Fickle(), batch_size=1)
    assert all(t.windows >= 3 for t in tags)
    assert {t.name for t in tags} <= {"dog", "person"}
    assert any(t.name == "dog" and t.confidence < 0.8 for t in tags)  # smoothed, not a max


def test_tiny_ast_loads_scores_and_batches(duo: tuple, tmp_path: Path) -> None:
    scene, cues = duo
    folder = str(write_tiny_ast(tmp_path / "ast"))
    tagger = get_tagger("ast", folder, quantize=False)  # exact: batching must not matter
    labels, scores = tagger.scores([np.zeros(16000, np.float32), np.ones(8000, np.float32)])
    assert labels == LABELS and scores.shape == (2, len(LABELS))
    assert np.all((scores >= 0) & (scores <= 1))
    one = tag_sources(scene.audio, scene.sr, cues, tagger, batch_size=1, min_confidence=0)
    many = tag_sources(scene.audio, scene.sr, cues, tagger, batch_size=8, min_confidence=0)
    assert [(t.label, t.windows) for t in one] == [(t.label, t.windows) for t in many]
    for a, b in zip(one, many, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
    # the default, int8 dynamic quantisation for the CPU, stays close to full precision
    fast = tag_sources(scene.audio, scene.sr, cues, get_tagger("ast", folder), min_confidence=0)
    for a, b in zip(one, fast, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=0.02)


def test_tiny_clap_with_a_vocabulary(duo: tuple, tmp_path: Path) -> None:
    scene, cues = duo
    vocab = tmp_path / "v.txt"
    vocab.write_text("# my sources\ncar\ndog\nbird\n")
    tagger = get_tagger("clap", str(write_tiny_clap(tmp_path / "clap")), str(vocab))
    labels, scores = tagger.scores([np.random.default_rng(0).standard_normal(48000) * 0.1])
    assert labels == ["car", "dog", "bird"] and scores.shape == (1, 3)
    assert scores.sum() == pytest.approx(1.0, abs=1e-5)
    tags = tag_sources(scene.audio, scene.sr, cues, tagger, min_confidence=0)
    assert all(t.name in ("car", "dog", "bird") for t in tags)


def test_plan_uses_tags_for_names_and_reasoning(duo: tuple, tmp_path: Path) -> None:
    import spa2v

    scene, _ = duo
    wav = tmp_path / "duo.wav"
    scene.save(wav)
    layout = spa2v.plan(wav, sources=2, tagger=PitchTagger())
    assert [o.name for o in layout.objects] == ["cow", "bird"]
    assert "Recognised by the pitch tagger" in layout.reasoning
    assert layout.model_extra["tags"][0]["name"] == "cow"
    assert "cow" in layout.caption and "bird" in layout.caption
    # labels win over tags
    named = spa2v.plan(wav, labels=["horse", "owl"], tagger=PitchTagger())
    assert [o.name for o in named.objects] == ["horse", "owl"]


def test_llm_prompt_mentions_the_tags(duo: tuple) -> None:
    from spa2v.planning import PlanOptions
    from spa2v.planning.llm import LLMPlanner, LLMSettings
    from spa2v.tagging.base import SourceTag

    _, cues = duo
    tags = (SourceTag(0, "cow", "Cattle, bovinae", 0.81, "ast", 2),
            SourceTag(1, "bird", "Bird vocalization", 0.64, "ast", 2))  # fmt: skip
    planner = LLMPlanner("openai", LLMSettings(cache=False, n_examples=0), backend=object())
    _, messages, _ = planner.conversation(cues, PlanOptions(tags=tags), with_audio=False)
    assert "S0: cow (0.81)" in messages[-1].text and "S1: bird (0.64)" in messages[-1].text


def test_missing_model_and_extra_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wav = tmp_path / "a.wav"
    render_scene([SceneSource("x", "speech", Trajectory.static(30, 2))], duration_s=1.0).save(wav)
    runner = CliRunner()
    result = runner.invoke(app, ["plan", str(wav), "--tagger", "ast",
                                 "--tagger-model", str(tmp_path / "nope")])  # fmt: skip
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["plan", str(wav), "--tagger", "sonar"])
    assert result.exit_code == 2 and "unknown tagger" in result.output
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ExtraMissingError, match=r"pip install 'spa2v\[tagging\]'"):
        get_tagger("clap").preflight()  # nothing loads before it is used
    result = runner.invoke(app, ["run", str(wav), "-o", str(tmp_path / "o"), "--tagger", "ast"])
    assert result.exit_code == 2 and "spa2v[tagging]" in result.output
    assert "Traceback" not in result.output

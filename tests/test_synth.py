"""The synthesiser's ground truth must match what it renders."""

from __future__ import annotations

import numpy as np
import pytest

from spa2v.audio.synth import (
    PRESETS,
    SOURCE_KINDS,
    SceneSource,
    Trajectory,
    make_source,
    render_preset,
    render_scene,
)
from spa2v.errors import ParameterError


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_sources_are_finite_and_normalised(kind: str) -> None:
    y = make_source(kind, 1.0, sr=16_000, seed=1)  # type: ignore[arg-type]
    assert y.shape == (16_000,) and np.isfinite(y).all()
    assert 0.2 < np.sqrt(np.mean(y**2)) < 1.5


def test_sources_are_reproducible() -> None:
    a = make_source("engine", 0.5, sr=16_000, seed=7)
    b = make_source("engine", 0.5, sr=16_000, seed=7)
    c = make_source("engine", 0.5, sr=16_000, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_trajectory_geometry() -> None:
    traj = Trajectory.static(90.0, 2.0)
    assert traj.azimuth_deg(np.array([0.0]))[0] == pytest.approx(90.0)
    assert traj.position(np.array([0.0]))[0][0] == pytest.approx(2.0)  # +x = left
    line = Trajectory.line(4.0, speed_mps=10.0, closest_m=5.0, t_closest_s=2.0)
    az = line.azimuth_deg(np.array([0.0, 2.0, 4.0]))
    assert az[0] > 60 and abs(az[1]) < 1e-6 and az[2] < -60
    with pytest.raises(ParameterError):
        Trajectory.polar(np.array([0.0, 0.0]), np.array([0, 1]), np.array([1, 1]))


def test_passby_truth_has_doppler_and_distance() -> None:
    scene = render_preset("passby", duration_s=4.0, sr=16_000)
    src = scene.truth.sources[0]
    assert src.motion == "left_to_right"
    assert src.doppler_ratio[0] > 1.0 > src.doppler_ratio[-1]
    assert min(src.distance_m) == pytest.approx(6.0, abs=0.05)
    assert scene.audio.shape == (2, 64_000) and scene.audio.dtype == np.float32


def test_spaced_pair_time_difference_matches_geometry() -> None:
    """Cross-correlating the channels gives the path difference of the 30 cm pair."""
    sr = 48_000
    scene = render_scene(
        [SceneSource("x", "noise", Trajectory.static(90.0, 5.0))],
        duration_s=1.0,
        mic="spaced",
        sr=sr,
    )
    left, right = scene.audio
    corr = np.fft.irfft(np.fft.rfft(right) * np.conj(np.fft.rfft(left)))
    lag = int(np.argmax(np.r_[corr[-60:], corr[:61]])) - 60
    expected = (np.hypot(5.15, 0) - np.hypot(4.85, 0)) / 343.0 * sr
    assert lag == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize("mic", ["coincident", "panned"])
def test_level_only_models_have_no_delay(mic: str) -> None:
    scene = render_scene(
        [SceneSource("x", "noise", Trajectory.static(60.0, 3.0))],
        duration_s=1.0,
        mic=mic,  # type: ignore[arg-type]
    )
    left, right = scene.audio.astype(np.float64)
    corr = np.fft.irfft(np.fft.rfft(right) * np.conj(np.fft.rfft(left)))
    assert int(np.argmax(np.r_[corr[-20:], corr[:21]])) - 20 == 0
    assert np.sum(left**2) > 2 * np.sum(right**2)


def test_noise_and_reverb_conditions() -> None:
    src = [SceneSource("x", "speech", Trajectory.static(0.0, 2.0))]
    dry = render_scene(src, duration_s=1.0, sr=16_000, seed=3)
    wet = render_scene(src, duration_s=1.0, sr=16_000, seed=3, rt60_s=0.5, snr_db=0.0)
    assert wet.truth.rt60_s == 0.5 and wet.truth.snr_db == 0.0 and dry.truth.rt60_s is None
    assert not np.allclose(dry.audio, wet.audio)
    assert np.max(np.abs(wet.audio)) == pytest.approx(10 ** (-3 / 20), rel=1e-3)


def test_every_preset_renders() -> None:
    for name in PRESETS:
        scene = render_preset(name, duration_s=1.0, sr=16_000)
        assert np.isfinite(scene.audio).all() and scene.truth.sources


def test_bad_scene_parameters() -> None:
    src = [SceneSource("x", "noise", Trajectory.static(0.0))]
    with pytest.raises(ParameterError):
        render_scene([], duration_s=1.0)
    with pytest.raises(ParameterError):
        render_scene(src, duration_s=1.0, mic="ribbon")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        render_scene(src, duration_s=0.0)
    with pytest.raises(ParameterError):
        make_source("violin", 1.0, sr=16_000)  # type: ignore[arg-type]


def test_a_recorded_signal_can_be_the_source() -> None:
    """A recording at another rate is resampled, looped to the scene's length and placed."""
    from spa2v.audio.synth import fit_signal

    sr_rec = 11_025
    t = np.arange(int(0.3 * sr_rec)) / sr_rec
    rec = np.sin(2 * np.pi * 440 * t) * np.exp(-5 * t)  # a short decaying tone
    y = fit_signal(rec, sr_rec, 48_000, 48_000)
    assert y.size == 48_000 and np.all(np.isfinite(y))
    spec = np.abs(np.fft.rfft(y))
    assert np.argmax(spec) == pytest.approx(440, abs=2)  # 1 s: bins are 1 Hz apart
    scene = render_scene(
        [SceneSource("bell", "hum", Trajectory.static(60.0, 2.0), signal=rec, signal_sr=sr_rec)],
        duration_s=1.0,
        mic="panned",
    )
    left, right = (float(np.sum(ch**2)) for ch in scene.audio)
    assert left > 4 * right  # on the left
    assert scene.truth.sources[0].label == "bell"
    for bad in (np.zeros(100), np.array([np.nan, 1.0]), np.zeros(0)):
        with pytest.raises(ParameterError):
            fit_signal(bad, sr_rec, 100, 48_000)


def test_long_scenes_are_written_in_segments_without_gaps(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from scipy.io import wavfile

    from spa2v.audio import synth
    from spa2v.audio.cues import analyze_file

    # the segmented path at a small scale: 1 s segments, 0.5 s warm-up, 0.1 s cross-fades
    for name, value in (("WHOLE_SCENE_MAX_S", 1.0), ("SEGMENT_S", 1.0),
                        ("SEGMENT_WARMUP_S", 0.5), ("SEGMENT_FADE_S", 0.1)):  # fmt: skip
        monkeypatch.setattr(synth, name, value)
    wav, truth_path = tmp_path / "long é.wav", tmp_path / "long.truth.json"
    sources = synth._preset_sources("left-to-right", 4.5)
    truth = synth.write_scene(wav, sources, duration_s=4.5, truth_path=truth_path, rt60_s=0.3)
    sr, y = wavfile.read(wav)
    assert sr == 48_000 and y.shape == (int(4.5 * sr), 2) and y.dtype == np.int16
    assert abs(np.abs(y).max() / 32767 - 10 ** (-3 / 20)) < 1e-3  # scaled to the peak
    w = int(0.02 * sr)
    rms = np.sqrt((y[: y.shape[0] // w * w].astype(float) ** 2).reshape(-1, w, 2).mean(axis=(1, 2)))
    assert rms[5:-5].min() > 0.4 * np.median(rms)  # a steady engine: no gap at the seams
    whole = synth.render_scene(sources, duration_s=4.5, rt60_s=0.3).truth
    assert truth == whole  # trajectories, hence the truth, are the whole scene's
    assert json.loads(truth_path.read_text())["sources"][0]["motion"] == "left_to_right"
    assert analyze_file(wav).summary.motion == "left_to_right"
    # up to WHOLE_SCENE_MAX_S nothing changes: the same file as render_scene + save
    short = tmp_path / "short.wav"
    synth.write_scene(short, sources, duration_s=1.0)
    synth.render_scene(sources, duration_s=1.0).save(tmp_path / "ref.wav")
    assert short.read_bytes() == (tmp_path / "ref.wav").read_bytes()

"""The physics the cue sheet must get right, pinned on clean synthetic scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_media
from scipy.stats import spearmanr

from spa2v.audio.cues import CueExtractor, CueParams, CueSheet, analyze_file, compute_cues
from spa2v.audio.synth import MIC_MODELS, SceneSource, Trajectory, render_preset, render_scene
from spa2v.errors import ParameterError

SR = 48_000


def _noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(SR * seconds)).astype(np.float32) * 0.1


@pytest.mark.parametrize("delay", [-30, -5, 4, 25])
def test_itd_sign_and_value_for_a_pure_delay(delay: int) -> None:
    """A right channel delayed by d samples means the left leads: ITD = +d / sr."""
    s = _noise()
    y = np.stack([s, np.roll(s, delay)])
    itd = np.median(compute_cues(y, sr=SR).frames.itd_ms)
    assert itd == pytest.approx(delay / SR * 1000, abs=0.005)
    assert np.sign(itd) == np.sign(delay)


@pytest.mark.parametrize("gain_db", [-12.0, -3.0, 6.0])
def test_ild_sign_and_value_for_a_level_difference(gain_db: float) -> None:
    s = _noise()
    y = np.stack([s * 10 ** (gain_db / 20), s])
    cues = compute_cues(y, sr=SR)
    assert np.median(cues.frames.ild_db) == pytest.approx(gain_db, abs=0.1)
    assert np.median(cues.frames.itd_ms) == pytest.approx(0.0, abs=0.005)
    # level-only input (a pan): the azimuth follows the level difference
    assert np.sign(cues.summary.azimuth_deg) == np.sign(gain_db)


@pytest.mark.parametrize("mic", MIC_MODELS)
@pytest.mark.parametrize(("preset", "side"), [("static-left", "left"), ("static-right", "right")])
def test_static_side_for_every_microphone_model(mic: str, preset: str, side: str) -> None:
    scene = render_preset(preset, duration_s=2.0, mic=mic, seed=1)  # type: ignore[arg-type]
    cues = compute_cues(scene.audio, sr=scene.sr)
    assert cues.summary.side == side
    assert cues.seconds[0].side == side


@pytest.mark.parametrize("mic", MIC_MODELS)
def test_azimuth_is_monotone_for_a_sweep(mic: str) -> None:
    traj = Trajectory.sweep(4.0, 75.0, -75.0, 4.0)
    scene = render_scene(
        [SceneSource("car", "engine", traj)],
        duration_s=4.0,
        mic=mic,
        seed=2,  # type: ignore[arg-type]
    )
    f = compute_cues(scene.audio, sr=scene.sr).frames
    truth = traj.azimuth_deg(f.time_s.astype(np.float64))
    assert spearmanr(truth, f.azimuth_deg).statistic > 0.97
    assert f.azimuth_deg[:25].mean() > 20 and f.azimuth_deg[-25:].mean() < -20


@pytest.mark.parametrize(("preset", "sign"), [("approach", 1), ("recede", -1)])
def test_loudness_slope_sign(preset: str, sign: int) -> None:
    scene = render_preset(preset, duration_s=4.0, mic="head", seed=0)
    cues = compute_cues(scene.audio, sr=scene.sr)
    mid = cues.frames.loudness_slope_db_per_s[50:150]
    assert np.sign(np.median(mid)) == sign
    assert cues.summary.loudness_trend == ("rising" if sign > 0 else "falling")


def test_loudness_of_a_full_scale_sine_is_about_minus_3_lufs_per_channel() -> None:
    t = np.arange(SR * 2) / SR
    sine = np.sin(2 * np.pi * 997 * t).astype(np.float32)
    cues = compute_cues(np.stack([sine, sine]), sr=SR)
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS; in two, about 0 LUFS
    assert np.median(cues.frames.loudness_lufs) == pytest.approx(0.0, abs=0.3)


def test_doppler_falls_through_a_pass_by() -> None:
    scene = render_preset("passby", duration_s=6.0, mic="spaced", seed=4)
    cues = compute_cues(scene.audio, sr=scene.sr)
    f = cues.frames
    voiced = f.f0_hz > 0
    early = np.median(f.pitch_ratio[voiced & (f.time_s < 2.0)])
    late = np.median(f.pitch_ratio[voiced & (f.time_s > 4.0)])
    assert early > 1.0 > late
    truth = scene.truth.sources[0].doppler_ratio
    expected_st = 12 * np.log2(np.median(truth[-50:]) / np.median(truth[:50]))
    assert cues.summary.pitch_change_st == pytest.approx(expected_st, abs=0.35)
    assert cues.summary.pitch_change_st < 0
    # pitch falls fastest around the loudest moment
    loudest = cues.summary.loudest_time_s
    assert abs(loudest - 3.0) < 0.5
    around = np.abs(f.time_s - loudest) < 0.3
    assert np.median(f.pitch_slope_st_per_s[around]) < -0.5


def test_f0_of_a_harmonic_tone() -> None:
    t = np.arange(SR * 2) / SR
    tone = sum(np.sin(2 * np.pi * k * 150.0 * t) / k for k in range(1, 8)).astype(np.float32)
    cues = compute_cues(np.stack([tone, tone]) * 0.2, sr=SR)
    voiced = cues.frames.f0_hz > 0
    assert voiced.mean() > 0.9
    assert np.median(cues.frames.f0_hz[voiced]) == pytest.approx(150.0, rel=0.01)


def test_noise_is_not_voiced() -> None:
    cues = compute_cues(np.stack([_noise(seed=1), _noise(seed=2)]), sr=SR)
    assert (cues.frames.f0_hz > 0).mean() < 0.05


def test_onsets_of_bursts_match_their_times() -> None:
    y = np.zeros((2, SR * 3), np.float32)
    clicks = [0.5, 1.2, 1.9, 2.4]
    rng = np.random.default_rng(0)
    for c in clicks:
        i = int(c * SR)
        burst = rng.standard_normal(2400).astype(np.float32) * np.exp(-np.arange(2400) / 600)
        y[:, i : i + 2400] += burst * 0.5
    y += rng.standard_normal(y.shape).astype(np.float32) * 1e-3
    onsets = np.array(compute_cues(y, sr=SR).onsets_s)
    assert len(onsets) == len(clicks)
    assert np.max(np.abs(onsets - np.array(clicks))) <= 0.045


def test_steady_sound_has_no_onsets_after_its_start() -> None:
    scene = render_preset("static-centre", duration_s=3.0, seed=0)
    hum = render_scene([SceneSource("fan", "hum", Trajectory.static(0.0))], duration_s=3.0, seed=0)
    assert len([t for t in compute_cues(hum.audio, sr=SR).onsets_s if t > 0.1]) == 0
    assert len(compute_cues(scene.audio, sr=SR).onsets_s) >= 3  # speech has syllables


def test_mono_has_no_spatial_cues_but_keeps_the_rest() -> None:
    scene = render_preset("approach", duration_s=3.0, seed=0)
    cues = compute_cues(scene.audio.mean(axis=0), sr=SR)
    assert cues.channels == 1 and not cues.spatial
    assert np.all(cues.frames.azimuth_confidence == 0) and np.all(cues.frames.itd_ms == 0)
    assert cues.summary.loudness_trend == "rising"
    assert any("mono" in w for w in cues.warnings)


def test_identical_channels_warn_like_mono_but_a_real_pair_does_not() -> None:
    from spa2v.audio.load import MonoAudioWarning

    scene = render_preset("approach", duration_s=2.0, seed=0)
    same = np.stack([scene.audio[0], scene.audio[0]])
    with pytest.warns(MonoAudioWarning, match="two channels are identical"):
        cues = compute_cues(same, sr=SR)
    assert any("identical" in w for w in cues.warnings)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", MonoAudioWarning)
        assert not any("identical" in w for w in compute_cues(scene.audio, sr=SR).warnings)


def test_streaming_matches_in_memory(tmp_path: Path, stereo_clip: tuple[np.ndarray, int]) -> None:
    y, sr = stereo_clip
    path = write_media(tmp_path / "c.wav", y, sr)
    quantised = (y * 32767).astype(np.int16).astype(np.float32) / 32768  # as written and read
    whole = compute_cues(quantised, sr=sr)
    streamed = analyze_file(path, sr=sr)
    assert len(streamed.frames) == len(whole.frames)
    for name in ("itd_ms", "ild_db", "azimuth_deg", "loudness_lufs", "f0_hz"):
        np.testing.assert_allclose(
            getattr(streamed.frames, name), getattr(whole.frames, name), atol=1e-3, rtol=1e-3
        )


def test_block_size_does_not_change_the_result(stereo_clip: tuple[np.ndarray, int]) -> None:
    y, sr = stereo_clip
    reference = compute_cues(y, sr=sr)
    extractor = CueExtractor(sr, 2)
    for start in range(0, y.shape[1], 7919):  # a prime block length
        extractor.push(y[:, start : start + 7919])
    pieces = extractor.finish()
    np.testing.assert_allclose(pieces.frames.itd_ms, reference.frames.itd_ms, atol=1e-5)
    np.testing.assert_allclose(pieces.frames.onset_strength, reference.frames.onset_strength)


def test_frame_times_and_counts(stereo_clip: tuple[np.ndarray, int]) -> None:
    y, sr = stereo_clip
    cues = compute_cues(y, sr=sr)
    assert cues.frames.time_s[0] == 0.0
    assert cues.frames.time_s[-1] <= cues.duration_s
    assert cues.duration_s - cues.frames.time_s[-1] < cues.hop_s
    assert len(cues.seconds) == 2


def test_json_round_trip_and_schema(tmp_path: Path, stereo_clip: tuple[np.ndarray, int]) -> None:
    y, sr = stereo_clip
    cues = compute_cues(y, sr=sr, source="x.wav")
    path = cues.save(tmp_path / "cues.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "spa2v.cues/1"
    assert len(data["frames"]["itd_ms"]) == len(cues.frames)
    back = CueSheet.load(path)
    np.testing.assert_allclose(back.frames.azimuth_deg, cues.frames.azimuth_deg, atol=1e-4)
    assert back.summary == cues.summary
    schema = CueSheet.model_json_schema(by_alias=True)
    assert "frames" in schema["properties"]
    assert "positive = left" in json.dumps(schema)


def test_invalid_cue_sheet_json_is_rejected(stereo_clip: tuple[np.ndarray, int]) -> None:
    y, sr = stereo_clip
    data = json.loads(compute_cues(y, sr=sr).to_json())
    data["frames"]["itd_ms"] = data["frames"]["itd_ms"][:-1]
    with pytest.raises(ValueError, match="itd_ms has"):
        CueSheet.model_validate(data)
    data = json.loads(compute_cues(y, sr=sr).to_json())
    data["frames"]["ild_db"][3] = "NaN"
    with pytest.raises(ValueError, match="NaN"):
        CueSheet.model_validate(data)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        CueParams(hop_s=0)
    with pytest.raises(ParameterError):
        CueExtractor(SR, 2, CueParams(fmin_hz=500, fmax_hz=400))
    with pytest.raises(ParameterError):
        CueExtractor(SR, 3)


def test_typical_level_ignores_non_finite_values_and_never_fails_empty() -> None:
    from spa2v.audio.cues import _typical_level

    level = np.array([-20.0, np.nan, -25.0, -80.0, np.inf], dtype=np.float32)
    # +inf is not a level: the -20/-25 dB frames decide, -80 dB lies > 30 dB below them
    assert _typical_level(level[[0, 1, 2, 3]]) == pytest.approx(np.percentile([-20.0, -25.0], 80))
    assert np.isfinite(_typical_level(level))
    assert _typical_level(np.array([np.nan, np.nan])) == -120.0


def test_hand_written_filters_match_scipy_signal() -> None:
    from scipy.signal import savgol_filter, sosfreqz

    from spa2v.audio.loudness import k_weighting_power_gain, k_weighting_sos, linear_slope

    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=400))
    for width in (3, 7, 51):
        want = savgol_filter(x, width, 1, deriv=1, delta=0.02, mode="nearest")
        np.testing.assert_allclose(linear_slope(x, width, delta=0.02), want, rtol=1e-9, atol=1e-9)
    freqs = np.geomspace(10, 20_000, 64)
    _, h = sosfreqz(k_weighting_sos(48_000), worN=freqs, fs=48_000)
    np.testing.assert_allclose(k_weighting_power_gain(freqs, 48_000), np.abs(h) ** 2, rtol=1e-5)


def test_numpy_filters_match_scipy_ndimage_and_fft() -> None:
    import scipy.fft
    import scipy.ndimage as ndi

    from spa2v.audio import filters

    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 4)).astype(np.float32) ** 2
    x[1500:] *= 1e-9  # a quiet stretch after a loud one keeps its precision
    for size in (1, 2, 5, 20, 51):
        for axis in (0, 1):
            if size > x.shape[axis]:
                continue
            got = filters.uniform_filter1d(x, size, axis=axis)
            assert got.dtype == x.dtype
            pad = [(0, 0), (0, 0)]
            pad[axis] = (size // 2, size - 1 - size // 2)
            windows = np.lib.stride_tricks.sliding_window_view(
                np.pad(x.astype(np.float64), pad, mode="edge"), size, axis=axis
            )
            np.testing.assert_allclose(got, windows.mean(axis=-1), rtol=1e-6)  # each window
            # as SciPy's (whose running sum drifts where a quiet stretch follows a loud one)
            want = ndi.uniform_filter1d(x, size, axis=axis, mode="nearest")
            np.testing.assert_allclose(got[:1400], want[:1400], rtol=1e-6)
        v = x[:, 0].astype(np.float64)
        np.testing.assert_array_equal(
            filters.maximum_filter1d(v, size), ndi.maximum_filter1d(v, size, mode="nearest")
        )
        np.testing.assert_allclose(
            filters.median_filter1d(v, size), ndi.median_filter(v, size=size, mode="nearest")
        )
    for n in (1, 7, 97, 1920, 2 * 1919, 10_007):
        assert filters.next_fast_len(n, real=True) == scipy.fft.next_fast_len(n, real=True)
        assert filters.next_fast_len(n) == scipy.fft.next_fast_len(n)
    assert filters.fft_for(None) is np.fft and filters.fft_for(10.0) is np.fft
    assert filters.fft_for(filters.SCIPY_FFT_MIN_S) is scipy.fft


def test_long_recordings_take_scipy_fft_with_the_same_cues() -> None:
    scene = render_preset("duet", duration_s=3.0, seed=4)
    sheets = []
    for duration in (None, 3600.0):  # as if it were an hour long: scipy.fft
        extractor = CueExtractor(scene.sr, 2, duration_s=duration)
        extractor.push(scene.audio)
        sheets.append(extractor.finish())
    assert sheets[0].summary.side == sheets[1].summary.side
    np.testing.assert_allclose(
        sheets[0].frames.azimuth_deg, sheets[1].frames.azimuth_deg, atol=1e-2
    )
    np.testing.assert_allclose(sheets[0].frames.f0_hz, sheets[1].frames.f0_hz, atol=1e-2)

"""Fuzzing the loader and the cue extraction: a clear error or a valid, finite cue sheet."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.io import wavfile

from spa2v.audio.cues import CueSheet, analyze_file, compute_cues
from spa2v.errors import Spa2vError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_valid(cues: CueSheet) -> None:
    data = cues.model_dump()
    for name, value in data["frames"].items():
        assert np.isfinite(value).all(), name
    assert np.all(np.abs(cues.frames.azimuth_deg) <= 90.0)
    assert np.all((cues.frames.azimuth_confidence >= 0) & (cues.frames.azimuth_confidence <= 1))
    CueSheet.from_json(cues.to_json())  # and it serialises to a valid document


def _analyse_bytes(payload: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(payload)
        try:
            cues = analyze_file(path)
        except Spa2vError as exc:
            assert str(exc)  # one clear message
            return
        _assert_valid(cues)


@FUZZ
@given(st.binary(min_size=0, max_size=4096), st.sampled_from([".wav", ".mp3", ".mp4", ".ogg"]))
def test_random_bytes(payload: bytes, suffix: str) -> None:
    _analyse_bytes(payload, suffix)


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    wavfile.write(buf, sr, y)
    return buf.getvalue()


_CLIP = _wav_bytes(
    (np.random.default_rng(0).standard_normal((9600, 2)) * 3000).astype(np.int16), 48_000
)


@FUZZ
@given(st.integers(min_value=0, max_value=len(_CLIP)))
def test_truncated_wav(cut: int) -> None:
    _analyse_bytes(_CLIP[:cut], ".wav")


@FUZZ
@given(st.integers(min_value=44, max_value=len(_CLIP) - 1), st.binary(min_size=1, max_size=64))
def test_corrupted_wav(offset: int, garbage: bytes) -> None:
    data = bytearray(_CLIP)
    data[offset : offset + len(garbage)] = garbage
    _analyse_bytes(bytes(data), ".wav")


@FUZZ
@given(
    arrays(
        np.float32,
        st.tuples(st.sampled_from([1, 2]), st.integers(min_value=1, max_value=6000)),
        elements=st.floats(-1e7, 1e7, width=32)
        | st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0]),
    ),
    st.sampled_from([8_000, 16_000, 44_100, 48_000, 96_000]),
)
def test_arbitrary_arrays(y: np.ndarray, sr: int) -> None:
    try:
        cues = compute_cues(y, sr=sr)
    except Spa2vError as exc:
        assert str(exc)
        return
    _assert_valid(cues)


@FUZZ
@given(
    st.floats(-0.99, 0.99),
    st.floats(0.0, 10.0),
    st.integers(min_value=1, max_value=3),
)
def test_dc_offset_and_clipping(dc: float, drive: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((2, 24_000)).astype(np.float32) * 0.2 * (1 + drive)
    y = np.clip(y + dc, -1.0, 1.0)
    try:
        cues = compute_cues(y, sr=48_000)
    except Spa2vError:
        assert np.ptp(y) < 1e-4  # only a flat (clipped-to-rail) signal may be refused
        return
    _assert_valid(cues)


def test_one_sample_file(tmp_path: Path) -> None:
    path = tmp_path / "one.wav"
    wavfile.write(path, 48_000, np.array([[1000, -1000]], np.int16))
    try:
        analyze_file(path)
    except Spa2vError as exc:
        assert "at least" in str(exc)
    else:
        raise AssertionError("a one-sample file cannot be analysed")


def test_extreme_but_plausible_levels() -> None:
    rng = np.random.default_rng(1)
    for scale in (1e-4, 1.0, 1e3):
        cues = compute_cues(rng.standard_normal((2, 9600)).astype(np.float32) * scale, sr=48_000)
        _assert_valid(cues)

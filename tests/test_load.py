"""Audio loading: formats, channel rules and one clear error per kind of bad input."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import write_media
from scipy.io import wavfile

from spa2v.audio.load import MonoAudioWarning, load_audio, validate_audio
from spa2v.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    ChannelError,
    EmptyAudioError,
    InvalidSamplesError,
    NoAudioStreamError,
    ParameterError,
    SampleRateError,
    SilentAudioError,
)


def _tone(sr: int, seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    base = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([base * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize(
    ("name", "codec", "video", "sr"),
    [
        ("a.wav", "pcm_s16le", False, 44_100),
        ("a.flac", "flac", False, 44_100),
        ("a.ogg", "libopus", False, 48_000),
        ("a.mp3", "libmp3lame", False, 44_100),
        ("a.m4a", "aac", False, 44_100),
        ("a.mp4", "aac", True, 44_100),
        ("a.mov", "aac", True, 48_000),
        ("a.mkv", "libopus", True, 48_000),
    ],
)
def test_formats_decode_to_stereo_float32_at_requested_rate(
    tmp_path: Path, name: str, codec: str, video: bool, sr: int
) -> None:
    path = write_media(tmp_path / name, _tone(sr), sr, codec=codec, video=video)
    audio = load_audio(path, sr=48_000)
    assert audio.samples.dtype == np.float32
    assert audio.channels == 2 and audio.sr == 48_000
    # lossy codecs add a few ms of encoder padding
    assert abs(audio.duration_s - 1.0) < 0.06
    rms = np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2, axis=1))
    # channel order survives: channel 1 was written at 0.7x the level of channel 0
    assert rms[1] / rms[0] == pytest.approx(0.7, abs=0.05)


def test_native_rate_is_kept_when_sr_is_none(tmp_path: Path) -> None:
    path = write_media(tmp_path / "a.wav", _tone(22_050), 22_050)
    audio = load_audio(path, sr=None)
    assert audio.sr == 22_050 and audio.samples.shape == (2, 22_050)


def test_resampling_preserves_duration_and_pitch(tmp_path: Path) -> None:
    path = write_media(tmp_path / "a.wav", _tone(44_100, 2.0), 44_100)
    audio = load_audio(path, sr=16_000)
    assert audio.samples.shape[1] == 32_000
    spec = np.abs(np.fft.rfft(audio.samples[0]))
    peak_hz = np.argmax(spec) * 16_000 / audio.samples.shape[1]
    assert peak_hz == pytest.approx(440, abs=1)


def test_mono_is_accepted_with_a_warning(tmp_path: Path) -> None:
    path = write_media(tmp_path / "mono.wav", _tone(48_000, channels=1), 48_000)
    with pytest.warns(MonoAudioWarning, match="left/right cannot be known"):
        audio = load_audio(path)
    assert audio.is_mono and audio.samples.shape[0] == 1


def test_more_than_two_channels_needs_a_choice(tmp_path: Path) -> None:
    y = _tone(48_000, channels=4)
    path = write_media(tmp_path / "quad.wav", y, 48_000)
    with pytest.raises(ChannelError, match="--channels"):
        load_audio(path)
    audio = load_audio(path, channels=(2, 3))
    rms = np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2, axis=1))
    assert rms[0] / rms[1] == pytest.approx(0.4 / 0.1, rel=0.05)  # levels of channels 2 and 3
    with pytest.raises(ChannelError, match="cannot pick"):
        load_audio(path, channels=(0, 7))
    with pytest.raises(ParameterError):
        load_audio(path, channels=(1, 1))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileNotFoundError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="directory"):
        load_audio(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load_audio(path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioDecodeError):
        load_audio(path)


def test_zero_length_wav(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48_000)
    with pytest.raises(EmptyAudioError):
        load_audio(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = write_media(tmp_path / "silent_film.mp4", _tone(48_000), 48_000, video=True, audio=False)
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        load_audio(path)


def test_all_silent(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    wavfile.write(path, 48_000, np.zeros((48_000, 2), np.int16))
    with pytest.raises(SilentAudioError, match="silent"):
        load_audio(path)


def test_dc_only_counts_as_silent() -> None:
    with pytest.raises(SilentAudioError):
        validate_audio(np.full((2, 4800), 0.3, np.float32), 48_000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    y = _tone(48_000).T.copy()
    y[100, 1] = bad
    path = tmp_path / "nan.wav"
    wavfile.write(path, 48_000, y)
    with pytest.raises(InvalidSamplesError, match="NaN or infinite"):
        load_audio(path)


def test_absurd_float_values(tmp_path: Path) -> None:
    path = tmp_path / "huge.wav"
    wavfile.write(path, 48_000, (_tone(48_000) * 1e9).T.copy())
    with pytest.raises(InvalidSamplesError, match="expected around"):
        load_audio(path)


@pytest.mark.parametrize("rate", [4_000, 500_000])
def test_sample_rate_out_of_range_in_file(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "rate.wav"
    wavfile.write(path, rate, (_tone(8_000) * 20000).astype(np.int16).T.copy())
    with pytest.raises(SampleRateError, match="8000–384000"):
        load_audio(path)


@pytest.mark.parametrize("rate", [0, 7_999, 400_000])
def test_requested_sample_rate_out_of_range(wav_file: Path, rate: int) -> None:
    with pytest.raises(SampleRateError):
        load_audio(wav_file, sr=rate)


def test_too_short() -> None:
    with pytest.raises(EmptyAudioError, match="at least"):
        validate_audio(np.array([[0.5], [0.1]], np.float32), 48_000)


def test_integer_arrays_are_scaled() -> None:
    y = (_tone(48_000) * 32767).astype(np.int16)
    out = validate_audio(y, 48_000)
    assert out.dtype == np.float32 and np.abs(out).max() == pytest.approx(0.5, abs=1e-3)


def test_a_wav_cut_short_warns_with_both_lengths(tmp_path: Path) -> None:
    from spa2v.audio.load import TruncatedAudioWarning, wav_lengths

    sr = 48_000
    y = (0.3 * np.sin(np.arange(2 * sr) * 0.05)).astype(np.float32)
    full = tmp_path / "full.wav"
    wavfile.write(full, sr, np.stack([y, y], axis=1))
    cut = tmp_path / "cut.wav"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    declared, present = wav_lengths(cut)
    assert declared == pytest.approx(2.0) and present == pytest.approx(1.0, abs=1e-3)
    with pytest.warns(TruncatedAudioWarning, match=r"declares 2\.000 s .* holds 1\.000 s"):
        audio = load_audio(cut)
    assert audio.duration_s == pytest.approx(1.0, abs=1e-3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole file says nothing
        load_audio(full)

"""Decode audio files into float32 arrays of shape ``(channels, samples)``.

Decoding is done by PyAV (FFmpeg), resampling by soxr. Files are read as a stream of blocks so a
long recording never has to sit in memory as a whole: :func:`open_audio` yields blocks and
:func:`load_audio` concatenates them for the common, short case.

Channel rules
-------------
* Two channels: used as they are, channel 0 = left, channel 1 = right.
* One channel: accepted with a :class:`MonoAudioWarning`; left/right cannot be known, so only
  loudness, pitch and onset cues carry information.
* More than two channels: :class:`~spa2v.errors.ChannelError` unless ``channels=(i, j)`` picks
  the left and right channel (``--channels i,j`` on the command line).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

MIN_SR = 8_000
MAX_SR = 384_000
#: Peak (after removing DC) below which a recording counts as silent: -100 dBFS.
SILENCE_PEAK = 1e-5
#: Sample magnitude above which float audio is taken to be garbage rather than sound (+120 dBFS).
MAX_PLAUSIBLE_SAMPLE = 1e6
#: Shortest input that can be analysed.
MIN_DURATION_S = 0.02
#: File suffixes taken for recordings when a folder is scanned (any file FFmpeg reads works
#: when named directly).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".mp4", ".mov", ".mkv",
                  ".webm", ".aif", ".aiff")  # fmt: skip


def _reason(exc: Exception) -> str:
    """FFmpeg's own words for an error, without errno numbers and file names."""
    return str(getattr(exc, "strerror", None) or exc)


class MonoAudioWarning(UserWarning):
    """The input has one channel: left/right cues are unavailable."""


class TruncatedAudioWarning(UserWarning):
    """A WAV file holds less audio than its header declares (a cut copy or recording)."""


def wav_lengths(path: str | Path) -> tuple[float, float] | None:
    """Seconds of audio a WAV header declares and seconds the file holds, or None.

    None for anything but a RIFF/WAVE file with a ``fmt `` chunk before a sized ``data``
    chunk: RF64 files and streaming writers (data size 0 or 0xFFFFFFFF) declare no length.
    FFmpeg computes a WAV's length from the file size, so a cut file otherwise reads as a
    shorter, valid one.
    """
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(size)
                    if len(fmt) < 16:
                        return None
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    f.seek(size % 2, 1)
                elif cid == b"data":
                    if byte_rate == 0 or size in (0, 0xFFFFFFFF):
                        return None
                    present = Path(path).stat().st_size - f.tell()
                    return size / byte_rate, max(0, min(present, size)) / byte_rate
                else:
                    f.seek(size + size % 2, 1)
    except (OSError, struct.error):
        return None


def warn_if_cut_short(path: str | Path) -> None:
    """Emit a :class:`TruncatedAudioWarning` naming both lengths when a WAV is cut short.

    A cut recording is still usable, so this warns rather than refuses: the part present is
    analysed and the message says how much is missing.
    """
    lengths = wav_lengths(path)
    if lengths is not None and lengths[0] - lengths[1] > 1e-3:
        declared, present = lengths
        warnings.warn(
            f"{path}: the WAV header declares {declared:.3f} s of audio but the file holds "
            f"{present:.3f} s; it was cut short (an interrupted copy or recording?); using the "
            f"{present:.3f} s present",
            TruncatedAudioWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class Audio:
    """Decoded audio.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, n), dtype=float32]
        Samples, nominally in [-1, 1]. Channel 0 is left, channel 1 right.
    sr : int
        Sample rate in Hz.
    source_channels : int
        Number of channels in the file before selection.
    path : str or None
        Where the audio came from, if a file.
    """

    samples: np.ndarray
    sr: int
    source_channels: int
    path: str | None = None

    @property
    def channels(self) -> int:
        """Number of channels in :attr:`samples` (1 or 2)."""
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.samples.shape[1] / self.sr

    @property
    def is_mono(self) -> bool:
        """True when there is no left/right information."""
        return self.channels == 1


def check_sample_rate(sr: float, *, what: str = "sample rate") -> int:
    """Return ``sr`` as an int, or raise :class:`SampleRateError` outside 8–384 kHz."""
    if not isinstance(sr, int | float | np.integer | np.floating) or not math.isfinite(sr):
        raise SampleRateError(f"{what} {sr!r} is not a number")
    if not (MIN_SR <= sr <= MAX_SR) or int(sr) != sr:
        raise SampleRateError(f"{what} {sr} Hz is outside the supported range {MIN_SR}–{MAX_SR} Hz")
    return int(sr)


def _check_channels_option(channels: tuple[int, int] | None) -> tuple[int, int] | None:
    if channels is None:
        return None
    if len(channels) != 2 or any(int(c) != c or c < 0 for c in channels):
        raise ParameterError(
            f"channels must be two channel indices (left, right), got {channels!r}"
        )
    if channels[0] == channels[1]:
        raise ParameterError("channels must name two different channels")
    return int(channels[0]), int(channels[1])


def check_block(block: np.ndarray, *, where: str) -> None:
    """Raise :class:`InvalidSamplesError` for NaN/Inf or absurd sample values in ``block``."""
    if block.size == 0:
        return
    hi, lo = float(np.max(block)), float(np.min(block))  # NaN propagates through both
    if not (math.isfinite(hi) and math.isfinite(lo)):
        raise InvalidSamplesError(f"{where} contains NaN or infinite samples")
    peak = max(abs(hi), abs(lo))
    if peak > MAX_PLAUSIBLE_SAMPLE:
        raise InvalidSamplesError(
            f"{where} has sample values up to {peak:.3g}; audio is expected around ±1"
        )


def validate_audio(samples: np.ndarray, sr: int, *, where: str = "audio") -> np.ndarray:
    """Check an in-memory signal and return it as C-contiguous float32 ``(channels, n)``.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,) or (channels, n)]
        A mono vector or a channels-first array of one or two channels.
    sr : int
        Sample rate in Hz (8–384 kHz).
    where : str
        Name used in error messages.

    Returns
    -------
    np.ndarray [shape=(channels, n), dtype=float32]

    Raises
    ------
    SampleRateError, ChannelError, EmptyAudioError, InvalidSamplesError, SilentAudioError
    """
    check_sample_rate(sr)
    y = np.asarray(samples)
    if y.dtype.kind not in "fiu":
        raise InvalidSamplesError(f"{where} has non-numeric dtype {y.dtype}")
    if y.ndim == 1:
        y = y[np.newaxis, :]
    if y.ndim != 2:
        raise ChannelError(f"{where} must have shape (n,) or (channels, n), got {y.shape}")
    if y.shape[0] > 2:
        raise ChannelError(
            f"{where} has {y.shape[0]} channels; pick the left and right channel "
            "(channels=(i, j), or --channels i,j on the command line)"
        )
    if y.shape[1] == 0:
        raise EmptyAudioError(f"{where} has no samples")
    if y.shape[1] < MIN_DURATION_S * sr:
        raise EmptyAudioError(
            f"{where} is {y.shape[1] / sr * 1000:.2f} ms long; at least "
            f"{MIN_DURATION_S * 1000:.0f} ms is needed"
        )
    if y.dtype.kind in "iu":
        scale = float(np.iinfo(y.dtype).max) + 1.0
        y = y.astype(np.float32) / np.float32(scale)
    y = np.ascontiguousarray(y, dtype=np.float32)
    check_block(y, where=where)
    # half the peak-to-peak range bounds the DC-free peak from below: silent means no swing
    if float(np.max(np.ptp(y, axis=1))) < 2 * SILENCE_PEAK:
        raise SilentAudioError(f"{where} is silent (peak below -100 dBFS)")
    return y


class AudioStream:
    """An open audio file read block by block. Use :func:`open_audio` to create one.

    Iterating yields float32 blocks of shape ``(channels, n)`` at :attr:`sr`. After iteration
    :attr:`peak` holds the largest DC-free magnitude seen and :attr:`samples_read` the count.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        sr: int | None = 48_000,
        channels: tuple[int, int] | None = None,
        block_s: float = 2.0,
    ) -> None:
        import av  # local: keep `import spa2v` light

        self.path = Path(path)
        if sr is not None:
            check_sample_rate(sr, what="requested sample rate")
        self._channel_pick = _check_channels_option(channels)
        if block_s <= 0 or not math.isfinite(block_s):
            raise ParameterError(f"block_s must be positive, got {block_s}")
        if not self.path.exists():
            raise AudioFileNotFoundError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise AudioDecodeError(f"{self.path}: is a directory, not an audio file")
        if self.path.stat().st_size == 0:
            raise EmptyAudioError(f"{self.path}: file is empty (0 bytes)")
        try:
            self._container = av.open(str(self.path), mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(
                f"{self.path}: not a readable audio/video file ({_reason(exc)})"
            ) from exc
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise AudioDecodeError(f"{self.path}: cannot open ({exc})") from exc
        try:
            self._setup(sr, block_s)
        except BaseException:
            self._container.close()
            raise

    def _setup(self, sr: int | None, block_s: float) -> None:
        streams = self._container.streams.audio
        if len(streams) == 0:
            raise NoAudioStreamError(f"{self.path}: the file has no audio stream")
        self._stream = streams[0]
        ctx = self._stream.codec_context
        native_sr = ctx.sample_rate or self._stream.rate
        if not native_sr:
            raise AudioDecodeError(f"{self.path}: the audio stream declares no sample rate")
        self.native_sr = check_sample_rate(native_sr, what=f"{self.path.name}: sample rate")
        self.sr = self.native_sr if sr is None else sr
        self.source_channels = int(ctx.channels or 0)
        if self.source_channels <= 0:
            raise AudioDecodeError(f"{self.path}: the audio stream declares no channels")
        pick = self._channel_pick
        if pick is not None:
            if max(pick) >= self.source_channels:
                count = self.source_channels
                raise ChannelError(
                    f"{self.path}: has {count} channel{'s' if count != 1 else ''} (0 … "
                    f"{count - 1}); cannot pick {pick[0]},{pick[1]}"
                )
            self.channels = 2
        elif self.source_channels > 2:
            raise ChannelError(
                f"{self.path}: has {self.source_channels} channels; pick the left and right "
                "channel with --channels i,j (channels=(i, j) in Python)"
            )
        else:
            self.channels = self.source_channels
        self.block_len = max(1, int(round(block_s * self.sr)))
        self.duration_s = self._estimate_duration()
        self.peak = 0.0
        self.samples_read = 0

    def _estimate_duration(self) -> float | None:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / 1_000_000
        return None

    @property
    def is_mono(self) -> bool:
        """True when the blocks have a single channel."""
        return self.channels == 1

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _decoded(self) -> Iterator[np.ndarray]:
        """Native-rate float32 blocks ``(channels, n)`` straight from the decoder."""
        import av

        resampler = av.AudioResampler(format="fltp")
        try:
            for frame in self._container.decode(self._stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(
                f"{self.path}: corrupt or truncated audio ({_reason(exc)})"
            ) from exc
        except (ValueError, MemoryError, OverflowError) as exc:
            raise AudioDecodeError(f"{self.path}: cannot decode ({exc})") from exc

    def _select(self, block: np.ndarray) -> np.ndarray:
        if block.ndim != 2 or block.shape[0] != self.source_channels:
            # the decoder changed layout mid-stream; a sign of a damaged file
            raise AudioDecodeError(f"{self.path}: the channel layout changes inside the file")
        if self._channel_pick is not None:
            return block[list(self._channel_pick)]
        return block

    def __iter__(self) -> Iterator[np.ndarray]:
        import soxr

        resampler = None
        if self.sr != self.native_sr:
            resampler = soxr.ResampleStream(
                self.native_sr, self.sr, self.channels, dtype="float32", quality="HQ"
            )
        pending: list[np.ndarray] = []
        pending_len = 0
        where = f"{self.path}"

        def emit(chunk: np.ndarray) -> np.ndarray:
            self.samples_read += chunk.shape[1]
            if chunk.shape[1]:
                self.peak = max(self.peak, 0.5 * float(np.max(np.ptp(chunk, axis=1))))
            return chunk

        for raw in self._decoded():
            block = np.asarray(self._select(raw), dtype=np.float32)
            check_block(block, where=where)
            if resampler is not None:
                block = resampler.resample_chunk(np.ascontiguousarray(block.T)).T
            pending.append(block)
            pending_len += block.shape[1]
            while pending_len >= self.block_len:
                joined = np.concatenate(pending, axis=1)
                yield emit(np.ascontiguousarray(joined[:, : self.block_len]))
                rest = joined[:, self.block_len :]
                pending, pending_len = [rest], rest.shape[1]
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)
            pending.append(tail.T)
            pending_len += tail.shape[0]
        if pending_len:
            yield emit(np.ascontiguousarray(np.concatenate(pending, axis=1)))

    def check_finished(self) -> None:
        # peak is half the largest peak-to-peak swing of a block
        """Raise if what was read is empty, too short or silent. Call after iterating."""
        if self.samples_read == 0:
            raise EmptyAudioError(f"{self.path}: the audio stream has no samples")
        if self.samples_read < MIN_DURATION_S * self.sr:
            raise EmptyAudioError(
                f"{self.path}: audio is {self.samples_read / self.sr * 1000:.2f} ms long; "
                f"at least {MIN_DURATION_S * 1000:.0f} ms is needed"
            )
        if self.peak < SILENCE_PEAK:
            raise SilentAudioError(f"{self.path}: the audio is silent (peak below -100 dBFS)")


def warn_if_mono(is_mono: bool, name: str) -> None:
    """Emit the standard :class:`MonoAudioWarning` for a one-channel input."""
    if is_mono:
        warnings.warn(
            f"{name} is mono: left/right cannot be known; only loudness, pitch and onset "
            "cues remain",
            MonoAudioWarning,
            stacklevel=3,
        )


def open_audio(
    path: str | Path,
    *,
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
    block_s: float = 2.0,
) -> AudioStream:
    """Open an audio or video file for block-wise reading.

    Parameters
    ----------
    path : str or Path
        WAV, FLAC, OGG, MP3, M4A, or a video (MP4/MOV/MKV…) whose first audio stream is read.
    sr : int or None
        Output sample rate in Hz; ``None`` keeps the file's rate. Resampled with soxr (HQ).
    channels : (int, int) or None
        Indices of the left and right channel in a file with more than two channels.
    block_s : float
        Length of the yielded blocks in seconds (the last block may be shorter).

    Returns
    -------
    AudioStream
        A context manager; iterate it for ``(channels, n)`` float32 blocks, then call
        :meth:`AudioStream.check_finished`.

    Raises
    ------
    AudioError
        Missing, empty or corrupt file, no audio stream, unsupported rate or channel count.
    """
    stream = AudioStream(path, sr=sr, channels=channels, block_s=block_s)
    warn_if_mono(stream.is_mono, str(stream.path))
    warn_if_cut_short(stream.path)
    return stream


def load_audio(
    path: str | Path,
    *,
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
) -> Audio:
    """Load a whole audio file into memory.

    Parameters
    ----------
    path : str or Path
        Audio file, or video file with an audio stream.
    sr : int or None
        Output sample rate in Hz (default 48 kHz); ``None`` keeps the file's rate.
    channels : (int, int) or None
        Left and right channel indices for files with more than two channels.

    Returns
    -------
    Audio
        ``samples`` has shape ``(1, n)`` for mono files (with a :class:`MonoAudioWarning`)
        and ``(2, n)`` otherwise.

    Raises
    ------
    AudioError
        See :func:`open_audio`; also :class:`SilentAudioError`, :class:`EmptyAudioError` and
        :class:`InvalidSamplesError` for unusable content.

    Examples
    --------
    >>> audio = load_audio("street.wav", sr=48000)  # doctest: +SKIP
    >>> audio.samples.shape
    (2, 480000)
    """
    with open_audio(path, sr=sr, channels=channels) as stream:
        blocks = list(stream)
        stream.check_finished()
        samples = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        return Audio(
            samples=np.ascontiguousarray(samples, dtype=np.float32),
            sr=stream.sr,
            source_channels=stream.source_channels,
            path=str(stream.path),
        )

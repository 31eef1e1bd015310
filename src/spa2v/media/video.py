"""MP4 files: H.264 video (yuv420p) with the original audio as AAC stereo, via PyAV.

Frames are streamed to the encoder one at a time and the audio is read block by block, so
memory does not grow with the length of the video. The file is written under a temporary name
and renamed when complete: an interrupted or failed render never leaves a broken file under
the final name (and an older file of that name survives).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from spa2v.errors import ParameterError, Spa2vError

#: Sample rate of the AAC track (the input is resampled to it when it differs).
AUDIO_SR = 48_000


class VideoWriteError(Spa2vError, OSError):
    """The video file could not be written."""


#: Audio peak above which the soundtrack is audibly clipped and a warning is given (+0.1 dBFS).
CLIP_WARN_PEAK = 10 ** (0.1 / 20)


def check_video_size(width: int, height: int) -> None:
    """Raise :class:`ParameterError` unless the size suits H.264 in yuv420p (even, 16…8192)."""
    for name, v in (("width", width), ("height", height)):
        if not 16 <= v <= 8192:
            raise ParameterError(f"video {name} must be within 16…8192 pixels, got {v}")
        if v % 2:
            raise ParameterError(f"video {name} must be even for H.264 (yuv420p), got {v}")


def check_fps(fps: float) -> float:
    """Raise :class:`ParameterError` unless ``fps`` is a usable frame rate (1…120)."""
    if not (math.isfinite(fps) and 1.0 <= fps <= 120.0):
        raise ParameterError(f"frame rate must be within 1…120 frames/s, got {fps}")
    return float(fps)


def frame_count(duration_s: float, fps: float) -> int:
    """Number of frames of a video of ``duration_s`` at ``fps`` (at least one)."""
    return max(1, int(round(duration_s * fps)))


class VideoWriter:
    """Write RGB frames (and optionally audio) to an MP4 file.

    Use as a context manager; call :meth:`write` once per frame. Audio, when given, is pulled
    from ``audio`` as the video advances (interleaved), trimmed or padded with silence to the
    video's length, and encoded as AAC stereo at :data:`AUDIO_SR` (a mono input is played on
    both channels).

    Parameters
    ----------
    path : str or Path
        Output file (``.mp4``).
    width, height : int
        Frame size in pixels (even).
    fps : float
        Frame rate.
    audio : iterable of np.ndarray or None
        Blocks of shape ``(channels, n)`` (1 or 2 channels, float32 in [-1, 1]) at
        :data:`AUDIO_SR`, e.g. an :class:`spa2v.audio.load.AudioStream` opened with that rate.
    crf : int
        H.264 constant rate factor (lower = better quality, bigger file).
    preset : str
        x264 speed preset.

    Examples
    --------
    >>> with VideoWriter("out.mp4", width=512, height=320, fps=24) as w:  # doctest: +SKIP
    ...     for frame in frames:
    ...         w.write(frame)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: float = 24.0,
        audio: Iterable[np.ndarray] | None = None,
        crf: int = 20,
        preset: str = "veryfast",
    ) -> None:
        check_video_size(width, height)
        self.fps = check_fps(fps)
        if not 0 <= crf <= 51:
            raise ParameterError(f"crf must be within 0…51, got {crf}")
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
            raise ParameterError(f"{self.path}: the video must be written as .mp4")
        if self.path.is_dir():
            raise ParameterError(f"{self.path}: is a directory")
        self.width, self.height = width, height
        self._audio_iter: Iterator[np.ndarray] | None = iter(audio) if audio is not None else None
        self._crf, self._preset = crf, preset
        self._stack: ExitStack | None = None
        self.frames_written = 0
        self._audio_written = 0  # samples at AUDIO_SR
        self._pending = np.zeros((2, 0), np.float32)
        self._audio_peak = 0.0

    # ------------------------------------------------------------------ context
    def __enter__(self) -> VideoWriter:
        import av

        from spa2v.media.files import atomic_path

        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, suffix=".mp4"))
        try:
            self._container = av.open(
                str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}
            )
        except (av.error.FFmpegError, OSError) as exc:
            self._stack.close()
            raise VideoWriteError(f"{self.path}: cannot create the video ({exc})") from None
        self._stack.callback(self._container.close)
        rate = Fraction(self.fps).limit_denominator(1001)
        self._video = self._container.add_stream(
            "libx264", rate=rate, options={"crf": str(self._crf), "preset": self._preset}
        )
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.codec_context.time_base = 1 / rate
        self._audio = None
        if self._audio_iter is not None:
            self._audio = self._container.add_stream("aac", rate=AUDIO_SR, layout="stereo")
            self._audio.bit_rate = 192_000
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stack is not None
        try:
            if exc_type is None:
                self._finish()
        except BaseException:
            self._abandon()
            raise
        if exc_type is not None:
            self._abandon()
            return
        self._stack.close()  # closes the container, then renames the file into place

    def _abandon(self) -> None:
        assert self._stack is not None
        # the temporary file is removed by atomic_path when it sees the exception
        try:
            self._stack.__exit__(RuntimeError, RuntimeError("abandoned"), None)
        except RuntimeError:
            pass

    # ------------------------------------------------------------------ writing
    def write(self, frame: np.ndarray) -> None:
        """Encode one frame: ``(height, width, 3)`` uint8 RGB."""
        import av

        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be ({self.height}, {self.width}, 3) uint8, "
                f"got {frame.shape} {frame.dtype}"
            )
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = self.frames_written
        self._mux(self._video.encode(vf))
        self.frames_written += 1
        if self._audio is not None:
            self._pump_audio(self._samples_at(self.frames_written))

    def _samples_at(self, n_frames: int) -> int:
        return int(round(n_frames / self.fps * AUDIO_SR))

    def _mux(self, packets: Any) -> None:
        import av

        try:
            self._container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoWriteError(f"{self.path}: writing failed ({exc})") from None

    def _pump_audio(self, until: int) -> None:
        """Encode audio up to sample ``until`` (padding with silence when it runs out)."""
        import av

        need = until - self._audio_written
        while self._pending.shape[1] < need and self._audio_iter is not None:
            try:
                block = next(self._audio_iter)
            except StopIteration:
                self._audio_iter = None
                break
            block = np.asarray(block, dtype=np.float32)
            if block.ndim != 2 or block.shape[0] not in (1, 2):
                raise ValueError("audio blocks must have shape (1 or 2 channels, n)")
            if block.shape[0] == 1:
                block = np.repeat(block, 2, axis=0)
            self._pending = np.concatenate([self._pending, block], axis=1)
        if need <= 0:
            return
        chunk = self._pending[:, :need]
        self._pending = self._pending[:, need:]
        if chunk.shape[1] < need:  # the audio is shorter than the video: silence
            chunk = np.concatenate([chunk, np.zeros((2, need - chunk.shape[1]), np.float32)], 1)
        if chunk.size:
            self._audio_peak = max(self._audio_peak, float(np.max(np.abs(chunk))))
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.clip(chunk, -1.0, 1.0)), format="fltp", layout="stereo"
        )
        frame.sample_rate = AUDIO_SR
        frame.pts = self._audio_written
        self._audio_written += need
        self._mux(self._audio.encode(frame))

    def _finish(self) -> None:
        if self.frames_written == 0:
            raise VideoWriteError(f"{self.path}: no frames were rendered")
        self._mux(self._video.encode(None))
        if self._audio is not None:
            self._pump_audio(self._samples_at(self.frames_written))
            self._mux(self._audio.encode(None))
            if self._audio_peak > CLIP_WARN_PEAK:
                warnings.warn(
                    f"the recording peaks at {20 * math.log10(self._audio_peak):+.1f} dBFS "
                    f"({self._audio_peak:.3g}× full scale): the video's soundtrack is clipped at "
                    "full scale; scale the recording down to keep it clean (the analysis is "
                    "not affected)",
                    UserWarning,
                    stacklevel=2,
                )


def probe_video(path: str | Path) -> dict[str, Any]:
    """Basic facts of a video file: size, frame rate, frame count, durations, audio channels.

    Returns
    -------
    dict
        ``width``, ``height``, ``fps``, ``frames``, ``video_duration_s``,
        ``audio_channels`` (0 without audio), ``audio_duration_s`` (0 without audio).
    """
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(v))
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info: dict[str, Any] = {
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "fps": float(v.average_rate or v.guessed_rate or 0),
            "frames": frames,
        }
        info["video_duration_s"] = frames / info["fps"] if info["fps"] else 0.0
        info["audio_channels"] = 0
        info["audio_duration_s"] = 0.0
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_channels"] = a.codec_context.channels
            n = sum(f.samples for f in c.decode(a))
            info["audio_duration_s"] = n / a.codec_context.sample_rate
    return info

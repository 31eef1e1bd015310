"""MP4 writing: real files written with PyAV and decoded back (no mocks of the video path)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from spa2v.errors import ParameterError
from spa2v.media.video import AUDIO_SR, VideoWriter, frame_count, probe_video


def _frames(n: int, w: int = 64, h: int = 48):
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[:, (i * 3) % w] = 255
        yield f


def _tone(seconds: float, channels: int = 2) -> list[np.ndarray]:
    t = np.arange(int(seconds * AUDIO_SR)) / AUDIO_SR
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = np.stack([y, 0.5 * y]) if channels == 2 else y[None]
    return [y[:, i : i + 4800] for i in range(0, y.shape[1], 4800)]


@pytest.mark.parametrize(
    ("audio_s", "channels"), [(2.0, 2), (1.3, 2), (3.5, 2), (2.0, 1)]
)  # fmt: skip
def test_video_and_audio_durations_agree(tmp_path: Path, audio_s: float, channels: int) -> None:
    path = tmp_path / "v.mp4"
    n = frame_count(2.0, 24)
    with VideoWriter(path, width=64, height=48, fps=24, audio=_tone(audio_s, channels)) as w:
        for f in _frames(n):
            w.write(f)
    info = probe_video(path)
    assert info["frames"] == n
    assert info["width"] == 64 and info["height"] == 48
    assert info["audio_channels"] == 2  # mono is played on both channels
    # the audio is trimmed or padded to the video: they agree within one frame
    assert abs(info["audio_duration_s"] - info["video_duration_s"]) <= 1 / 24
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"
        assert c.streams.audio[0].codec_context.sample_rate == AUDIO_SR


def test_audio_content_survives(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    with VideoWriter(path, width=64, height=48, fps=24, audio=_tone(2.0)) as w:
        for f in _frames(48):
            w.write(f)
    with av.open(str(path)) as c:
        y = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    mid = y[:, AUDIO_SR // 2 : AUDIO_SR]
    rms = np.sqrt(np.mean(mid**2, axis=1))
    # left carries the tone at 0.3, right at half that: the channels are not swapped or mixed
    assert rms[0] == pytest.approx(0.3 / np.sqrt(2), rel=0.1)
    assert rms[1] == pytest.approx(0.15 / np.sqrt(2), rel=0.1)


def test_frames_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    with VideoWriter(path, width=64, height=48, fps=12) as w:
        for f in _frames(30):
            w.write(f)
    info = probe_video(path)
    assert info["frames"] == 30 and info["audio_channels"] == 0
    assert info["fps"] == pytest.approx(12)


def test_failed_render_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"previous video")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), VideoWriter(path, width=64, height=48, fps=24) as w:
        for i, f in enumerate(_frames(20)):
            if i == 10:
                raise Boom
            w.write(f)
    assert path.read_bytes() == b"previous video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_decoded_frames_match_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    frames = list(_frames(10, 64, 48))
    with VideoWriter(path, width=64, height=48, fps=24) as w:
        for f in frames:
            w.write(f)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for a, b in zip(frames, decoded, strict=True):
        assert np.mean(np.abs(a.astype(int) - b.astype(int))) < 6
        assert int(np.argmax(b[24, :, 0])) == int(np.argmax(a[24, :, 0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 63, "height": 48}, "even"),
        ({"width": 64, "height": 8}, "16"),
        ({"width": 64, "height": 48, "fps": 0}, "frame rate"),
        ({"width": 64, "height": 48, "fps": float("nan")}, "frame rate"),
    ],
)
def test_bad_settings(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        VideoWriter(tmp_path / "v.mp4", **kwargs)


def test_wrong_suffix_and_wrong_frames(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="mp4"):
        VideoWriter(tmp_path / "v.avi", width=64, height=48)
    with (
        pytest.raises(ValueError, match="frame must be"),
        VideoWriter(tmp_path / "v.mp4", width=64, height=48) as w,
    ):
        w.write(np.zeros((48, 64), np.uint8))
    assert not (tmp_path / "v.mp4").exists()


def test_a_soundtrack_above_full_scale_warns_that_it_is_clipped(tmp_path: Path) -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    loud = [np.full((2, AUDIO_SR // 2), 50.0, np.float32)]  # x50 full scale
    with pytest.warns(UserWarning, match=r"peaks at \+34\.0 dBFS .* clipped"):
        with VideoWriter(tmp_path / "v.mp4", width=32, height=32, fps=10, audio=loud) as w:
            for _ in range(5):
                w.write(frame)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = [np.full((2, AUDIO_SR // 2), 0.5, np.float32)]
        with VideoWriter(tmp_path / "q.mp4", width=32, height=32, fps=10, audio=quiet) as w:
            for _ in range(5):
                w.write(frame)

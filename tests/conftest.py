"""Shared helpers: write real media files with PyAV so the loader is tested end to end."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from spa2v.audio.synth import render_preset


def write_media(
    path: Path,
    y: np.ndarray,
    sr: int,
    *,
    codec: str = "pcm_s16le",
    video: bool = False,
    audio: bool = True,
) -> Path:
    """Encode ``y`` (channels, n) float in [-1, 1] with PyAV; optionally add a video stream."""
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    layout = {1: "mono", 2: "stereo", 4: "quad", 6: "5.1"}[y.shape[0]]
    with av.open(str(path), "w") as container:
        vstream = None
        if video:
            vstream = container.add_stream("libx264", rate=24)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        if audio:
            stream = container.add_stream(codec, rate=sr, layout=layout)
            fmt = stream.codec_context.codec.audio_formats[0].name
            if fmt == "fltp":
                arr = y
            elif fmt == "s16p":
                arr = (y * 32767).astype(np.int16)
            elif fmt == "s32p":
                arr = (y * 2147483647).astype(np.int32)
            elif fmt == "s16":
                arr = (y.T.reshape(1, -1) * 32767).astype(np.int16)
            elif fmt == "s32":
                arr = (y.T.reshape(1, -1) * 2147483647).astype(np.int32)
            else:
                arr = y.T.reshape(1, -1).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
            frame.sample_rate = sr
        if vstream is not None:
            for _ in range(24):
                img = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                for packet in vstream.encode(img):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        if audio:
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


@pytest.fixture(scope="session")
def stereo_clip() -> tuple[np.ndarray, int]:
    """A 2 s static-left scene (head model) as (audio, sr)."""
    scene = render_preset("static-left", duration_s=2.0, mic="head", seed=3)
    return scene.audio, scene.sr


@pytest.fixture()
def wav_file(tmp_path: Path, stereo_clip: tuple[np.ndarray, int]) -> Path:
    y, sr = stereo_clip
    return write_media(tmp_path / "clip.wav", y, sr)

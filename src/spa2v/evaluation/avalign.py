"""Audio-video alignment of a rendered video: AV-Align, and box adherence of a renderer.

**AV-Align** (Yariv, Gat, Benaim, Wolf, Schwartz, Adi, "Diverse and Aligned Audio-to-Video
Generation via Text-to-Video Model Adaptation" — TempoTokens —, AAAI 2024): peaks of the audio
(onsets) and peaks of the video's motion (mean optical-flow magnitude between consecutive
frames, Farnebäck flow from OpenCV) are matched when they lie within one frame of each other;
the score is their intersection over union::

    AV-Align = |A ∩ V| / (|A| + |V| - |A ∩ V|)

with ``|A ∩ V|`` the number of audio peaks that have a video peak within the window. Audio
onsets come from spa2v's own cue sheet; video peaks are local maxima of the flow magnitude
above its mean (:func:`scipy.signal.find_peaks`).

**Box adherence**: for renderers that report what they drew (the storyboard renderer), the
fraction of frames in which every object's drawn pixels lie inside its layout box.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from spa2v.extras import require
from spa2v.layout.vsl import VSL


def _cv2():
    (cv2,) = require("eval", "video evaluation (optical flow)")
    return cv2


def flow_magnitude(frames: Iterable[np.ndarray], *, width: int = 160) -> np.ndarray:
    """Mean optical-flow magnitude between consecutive frames (pixels at ``width``).

    Returns
    -------
    np.ndarray [shape=(frames,)]
        Value ``i`` is the motion from frame ``i - 1`` to ``i`` (0 for the first frame).
    """
    cv2 = _cv2()
    out: list[float] = []
    prev = None
    for frame in frames:  # streamed: only two small grey frames are held
        h, w = frame.shape[:2]
        small = cv2.resize(
            frame, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA
        )
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        if prev is None:
            out.append(0.0)
        else:
            flow = cv2.calcOpticalFlowFarneback(prev, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            out.append(float(np.mean(np.linalg.norm(flow, axis=2))))
        prev = gray
    return np.asarray(out, dtype=float)


def video_peaks(magnitude: np.ndarray, fps: float) -> np.ndarray:
    """Times (s) of the motion peaks: local maxima above the mean magnitude."""
    from scipy.signal import find_peaks

    if magnitude.size < 3:
        return np.zeros(0)
    idx, _ = find_peaks(magnitude, height=float(np.mean(magnitude)))
    return idx / fps


def av_align(audio_peaks_s: np.ndarray, video_peaks_s: np.ndarray, fps: float,
             *, window_frames: float = 1.0) -> float:  # fmt: skip
    """AV-Align of two sets of peak times (see the module docstring); 1 when both are empty.

    Examples
    --------
    >>> av_align(np.array([1.0, 2.0]), np.array([1.02, 3.0]), fps=24)
    0.3333333333333333
    """
    a = np.asarray(audio_peaks_s, float)
    v = np.asarray(video_peaks_s, float)
    if a.size == 0 and v.size == 0:
        return 1.0
    if a.size == 0 or v.size == 0:
        return 0.0
    window = window_frames / fps + 1e-9
    hits = int(np.sum(np.min(np.abs(a[:, None] - v[None, :]), axis=1) <= window))
    return hits / (a.size + v.size - hits)


def video_motion(path: str | Path) -> tuple[np.ndarray, float]:
    """Flow magnitude of every frame of a video file (decoded as it is read) and its frame rate."""
    import av

    from spa2v.errors import AudioDecodeError

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise AudioDecodeError(f"{path}: no video stream")
            stream = c.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            magnitude = flow_magnitude(f.to_ndarray(format="rgb24") for f in c.decode(stream))
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(f"{path}: not a readable video ({exc})") from None
    if magnitude.size == 0:
        raise AudioDecodeError(f"{path}: the video has no frames")
    return magnitude, fps


def evaluate_video(video: str | Path, audio: str | Path) -> dict[str, float]:
    """AV-Align of a video file against a recording (onsets from spa2v's cue sheet).

    Returns
    -------
    dict
        ``av_align``, ``audio_peaks``, ``video_peaks``, ``fps``, ``frames``.
    """
    from spa2v.audio.cues import analyze_file

    magnitude, fps = video_motion(video)
    peaks_v = video_peaks(magnitude, fps)
    peaks_a = np.asarray(analyze_file(audio).onsets_s, float)
    return {
        "av_align": av_align(peaks_a, peaks_v, fps),
        "audio_peaks": int(peaks_a.size),
        "video_peaks": int(peaks_v.size),
        "fps": fps,
        "frames": int(magnitude.size),
    }


def box_adherence(
    layout: VSL,
    *,
    fps: float = 24.0,
    width: int | None = None,
    height: int | None = None,
    seed: int = 0,
    tolerance_px: int = 1,
) -> float:
    """Fraction of the storyboard renderer's frames whose drawn objects stay in their boxes."""
    from spa2v.generation.animatic import AnimaticGenerator
    from spa2v.generation.base import RenderRequest

    request = RenderRequest(layout=layout, fps=fps, width=width, height=height, seed=seed)
    w, h = request.size
    boxes = layout.interpolate(request.n_frames)
    good = total = 0
    for i, (_, drawn) in enumerate(AnimaticGenerator().render(request)):
        total += 1
        ok = True
        for oid, (x0, y0, x1, y1) in drawn.items():
            b = boxes[oid][i] * np.array([w, h, w, h])
            ok &= (x0 >= np.floor(b[0]) - tolerance_px and y0 >= np.floor(b[1]) - tolerance_px
                   and x1 <= np.ceil(b[2]) + tolerance_px
                   and y1 <= np.ceil(b[3]) + tolerance_px)  # fmt: skip
        good += ok
    return good / max(total, 1)

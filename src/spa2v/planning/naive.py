"""The naive baseline planner: one object, placed by broadband GCC-PHAT and sized by RMS.

This is what a first attempt looks like — the time difference of the whole mixture per
keyframe mapped to azimuth with a head's ITD range, and the box height proportional to the
RMS level. It knows nothing of level-only arrays, reverberation or several sources. The
benchmarks print it next to the cue-based planner.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spa2v.audio.cues import CueSheet
from spa2v.audio.filters import next_fast_len
from spa2v.audio.load import Audio
from spa2v.audio.spatial import ITD_REF_MS
from spa2v.errors import ParameterError
from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL
from spa2v.planning.base import PlanOptions


def broadband_itd_ms(segment: np.ndarray, sr: int, max_delay_ms: float = 1.0) -> float:
    """GCC-PHAT time difference (ms, + = left leads) of a whole stereo segment."""
    n = next_fast_len(2 * segment.shape[1])
    spec = np.fft.rfft(segment, n=n, axis=1)
    cross = spec[1] * np.conj(spec[0])
    corr = np.fft.irfft(cross / np.maximum(np.abs(cross), 1e-20), n=n)
    m = int(max_delay_ms / 1000 * sr)
    window = np.r_[corr[-m:], corr[: m + 1]]
    return (int(np.argmax(window)) - m) / sr * 1000.0


class NaivePlanner:
    """One object; broadband GCC-PHAT position and RMS size (benchmark baseline)."""

    name = "naive"
    needs_audio = True

    def __init__(self, config: Any = None) -> None:
        """Nothing to configure beyond the plan options."""

    def preflight(self) -> None:
        """Nothing to check: it runs anywhere."""

    def plan(self, cues: CueSheet, audio: Audio | None, options: PlanOptions) -> VSL:
        """Plan from the raw audio (required)."""
        if audio is None:
            raise ParameterError("the naive planner needs the audio itself")
        camera = Camera(fov_deg=options.fov_deg, width=options.width, height=options.height)
        name = options.labels[0] if options.labels else "sound source"
        duration = audio.duration_s
        times = options.keyframe_times(duration)
        half = duration / len(times) / 2
        y, sr = audio.samples, audio.sr
        azimuths, rms = [], []
        for tk in times:
            seg = y[:, int(max(0.0, tk - half) * sr) : int((tk + half) * sr)]
            itd = broadband_itd_ms(seg, sr) if audio.channels == 2 and seg.shape[1] > 16 else 0.0
            azimuths.append(float(np.degrees(np.arcsin(np.clip(itd / ITD_REF_MS, -1, 1)))))
            rms.append(float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0)
        top = max(max(rms), 1e-12)
        keyframes = [
            {
                "time": tk,
                "caption": "",
                "boxes": [{"id": 0, "box": camera.box(az, top / max(r, top / 16), name)}],
            }
            for tk, az, r in zip(times, azimuths, rms, strict=True)
        ]
        return VSL(
            duration=round(duration, 6),
            width=options.width,
            height=options.height,
            caption=f"{name[:1].upper()}{name[1:]}.",
            reasoning="Naive baseline: broadband GCC-PHAT position, RMS size, one object.",
            objects=[{"id": 0, "name": name}],
            keyframes=keyframes,
            planner="naive",
        )

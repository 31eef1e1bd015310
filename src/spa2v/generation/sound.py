"""Per-object sound over the video frames: how loud each object is and when it strikes.

The storyboard draws a sound cue on each object (a ring whose strength follows the object's
loudness and that pulses on its onsets), so picture and sound stay in step. The cue sheet
tracks sources, the layout has objects: each object is matched to the tracked source whose
position (through the camera model) stays closest to the object's box over the video
(an optimal one-to-one assignment); objects left without a source follow the whole mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spa2v.audio.cues import CueSheet
from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL

#: Loudness range mapped onto the cue's strength, dB below the object's loud level.
LEVEL_RANGE_DB = 30.0
#: Decay time of an onset pulse, s.
PULSE_DECAY_S = 0.3


@dataclass(frozen=True)
class SoundTraces:
    """Sound of each object, one value per video frame.

    Attributes
    ----------
    level : dict of int to np.ndarray
        Per object id, loudness mapped to 0 (silent, 30 dB or more below its loud level)
        … 1 (its loud level, the 95th percentile).
    pulse : dict of int to np.ndarray
        Per object id, 1 at one of its onsets, decaying with :data:`PULSE_DECAY_S`.
    source : dict of int to int or None
        Per object id, the tracked source it follows (None: the whole mix).
    """

    level: dict[int, np.ndarray]
    pulse: dict[int, np.ndarray]
    source: dict[int, int | None]

    @property
    def n_frames(self) -> int:
        """Number of frames covered."""
        return len(next(iter(self.level.values()))) if self.level else 0


def _normalised_level(loudness: np.ndarray) -> np.ndarray:
    finite = loudness[np.isfinite(loudness)]
    if finite.size == 0:
        return np.zeros_like(loudness, dtype=np.float32)
    top = float(np.percentile(finite, 95))
    lv = (np.nan_to_num(loudness, nan=top - LEVEL_RANGE_DB, neginf=top - LEVEL_RANGE_DB)
          - (top - LEVEL_RANGE_DB)) / LEVEL_RANGE_DB  # fmt: skip
    return np.clip(lv, 0.0, 1.0).astype(np.float32)


def _pulses(times: np.ndarray, onsets: list[float]) -> np.ndarray:
    out = np.zeros(times.size, np.float32)
    for t0 in onsets:
        after = times >= t0 - 0.5 / 48.0
        out[after] = np.maximum(out[after], np.exp(-(times[after] - t0) / PULSE_DECAY_S))
    return np.clip(out, 0.0, 1.0)


def match_objects(layout: VSL, cues: CueSheet, times: np.ndarray) -> dict[int, int | None]:
    """Which tracked source each object follows (None: none left or no sources).

    The cost of a pair is the mean distance between the object's box centre and the
    source's position through the layout's camera (field of view from the layout's
    ``camera`` note, 90° by default), over the frames where the object is visible.
    """
    from scipy.optimize import linear_sum_assignment

    ids = layout.object_ids()
    sources = cues.sources
    if not sources:
        return dict.fromkeys(ids)
    cam_note = (layout.model_extra or {}).get("camera") or {}
    fov = cam_note.get("fov_deg", 90.0) if isinstance(cam_note, dict) else 90.0
    try:
        camera = Camera(fov_deg=float(fov))
    except (TypeError, ValueError):
        camera = Camera()
    boxes = layout.interpolate(times)
    ft = cues.frames.time_s
    cost = np.zeros((len(ids), len(sources)))
    for i, oid in enumerate(ids):
        xc = (boxes[oid][:, 0] + boxes[oid][:, 2]) / 2
        seen = np.isfinite(xc)
        for j, src in enumerate(sources):
            xs = camera.x_of(np.interp(times, ft, src.azimuth_deg))
            cost[i, j] = float(np.mean(np.abs(xc[seen] - xs[seen]))) if seen.any() else 1.0
    rows, cols = linear_sum_assignment(cost)
    match: dict[int, int | None] = dict.fromkeys(ids)
    for r, c in zip(rows, cols, strict=True):
        match[ids[r]] = int(c)
    return match


def sound_traces(layout: VSL, cues: CueSheet, times: np.ndarray) -> SoundTraces:
    """Loudness and onset pulses of every object at the given frame times.

    Parameters
    ----------
    layout : VSL
        The layout being rendered.
    cues : CueSheet
        Cues of the audio played with it.
    times : np.ndarray
        Frame times, s.

    Returns
    -------
    SoundTraces
    """
    match = match_objects(layout, cues, times)
    ft = cues.frames.time_s
    share_at = {
        j: np.interp(cues.onsets_s, ft, s.share) if cues.onsets_s else np.zeros(0)
        for j, s in enumerate(cues.sources)
    }
    # an onset belongs to the sources that carry at least half the largest share then
    best = np.max(np.stack(list(share_at.values())), axis=0) if share_at else None
    level: dict[int, np.ndarray] = {}
    pulse: dict[int, np.ndarray] = {}
    for oid, j in match.items():
        if j is None:
            loud = cues.frames.loudness_lufs
            onsets = list(cues.onsets_s)
        else:
            loud = cues.sources[j].loudness_lufs
            onsets = [t for k, t in enumerate(cues.onsets_s) if share_at[j][k] >= 0.5 * best[k]]
        level[oid] = np.interp(times, ft, _normalised_level(np.asarray(loud, np.float64)))
        level[oid] = level[oid].astype(np.float32)
        pulse[oid] = _pulses(times, onsets)
    return SoundTraces(level=level, pulse=pulse, source=match)

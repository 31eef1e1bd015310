"""The cue-based planner: an offline, deterministic layout from the measured cues.

For each tracked source it places one object, at every keyframe:

* horizontally by the source's azimuth around the keyframe (the camera model of
  :mod:`spa2v.layout.camera`);
* in depth by its loudness relative to the loudest moment of any source in the clip
  (about twice as far per 6 dB quieter), which makes an approaching source grow, a receding one
  shrink and a pass-by come closest when it is loudest;
* during silences an intermittent source keeps its object where it was last heard.

Captions come from templates filled with the behaviour read off the cues
(:mod:`spa2v.planning.describe`); the reasoning cites the measured values.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from spa2v.audio.cues import CueSheet, SourceCues
from spa2v.audio.filters import maximum_filter1d, median_filter1d
from spa2v.audio.load import Audio
from spa2v.audio.spatial import side_of
from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL
from spa2v.planning import describe
from spa2v.planning.base import PlanOptions

#: Farthest relative distance drawn (about 24 dB below the loudest moment).
MAX_D_REL = 16.0


def _window_level(
    loud: np.ndarray, audible: np.ndarray, t: np.ndarray, lo: float, hi: float
) -> float | None:
    """Typical loudness of a source within [lo, hi) where it sounds; None in a pause."""
    sel = (t >= lo) & (t < hi) & audible
    if not sel.any():
        return None
    return float(np.percentile(loud[sel], 80))


def _audible(loud: np.ndarray, hop_s: float, activity: np.ndarray) -> np.ndarray:
    """Frames where the source sounds: near its level of the surrounding 2 s, not lost in
    the floor, and while the recording is active at all. A pause dips far below its
    surroundings; a slow fade does not; a long pause (room noise before speech begins) is
    below the recording's activity floor."""
    width = max(1, int(round(2.0 / hop_s)))
    local_top = maximum_filter1d(loud, width)
    sounding = (loud > local_top - 10.0) & (loud > loud.max() - 35.0)
    active = sounding & (activity > 0.5)
    return active if active.any() else sounding


def _window_azimuth(
    src: SourceCues, cues: CueSheet, lo: float, hi: float, *, only_source: bool
) -> float:
    t = cues.frames.time_s
    sel = (t >= lo) & (t < hi)
    if not sel.any():
        sel = np.abs(t - (lo + hi) / 2) == np.min(np.abs(t - (lo + hi) / 2))
    w = src.share[sel] * (0.05 + cues.frames.activity[sel])
    if only_source:  # the fused azimuth carries a per-frame confidence
        w = w * (0.05 + cues.frames.azimuth_confidence[sel])
    az = src.azimuth_deg[sel]
    return float(np.average(az, weights=w + 1e-9))


class CuePlanner:
    """Offline planner driven by the cue sheet (the embedded default)."""

    name = "cues"
    needs_audio = False

    def __init__(self, config: Any = None) -> None:
        """Nothing to configure beyond the plan options."""

    def preflight(self) -> None:
        """Nothing to check: it runs anywhere."""

    def plan(self, cues: CueSheet, audio: Audio | None, options: PlanOptions) -> VSL:
        """Plan the layout; ``audio`` is not needed."""
        camera = Camera(fov_deg=options.fov_deg, width=options.width, height=options.height)
        sources = cues.sources or []
        if not sources:  # an old cue sheet without tracks: one source from the summary
            sources = [_summary_source(cues)]
        labels = list(options.labels)
        # names go to the sources found first, left to right, then to those not localised
        order = sorted(range(len(sources)), key=lambda k: (not sources[k].localised, k))
        names = ["" for _ in sources]
        for j, k in enumerate(order):
            names[k] = labels[j] if j < len(labels) else options.recognised(k)
        notes = []
        unplaced = [names[k] for k, src in enumerate(sources) if not src.localised]
        if unplaced:
            found = len(sources) - len(unplaced)
            if labels:
                asked = f"{len(labels)} name(s) given"
                which = ", ".join(n for k, n in enumerate(names) if not sources[k].localised)
            else:
                asked, which = f"{len(sources)} sources asked", f"{len(unplaced)} of them"
            note = (f"{asked} but {found} source(s) found in the recording: {which} not "
                    "localised (shown still, at the strongest remaining direction)")  # fmt: skip
            notes.append(note[0].upper() + note[1:] + ".")
            warnings.warn(note, UserWarning, stacklevel=2)
        duration = cues.duration_s
        times = options.keyframe_times(duration)
        half = duration / len(times) / 2
        t = cues.frames.time_s
        # where each source was measured: an object is shown from the keyframe where its
        # source is first heard, and holds its last measured place through pauses
        heard = np.array([[_heard(src, t, tk - half, tk + half) for tk in times]
                          for src in sources])  # fmt: skip
        first = np.zeros(len(sources), dtype=int)  # the first keyframe that shows each one
        first_heard = [0.0] * len(sources)
        for k, src in enumerate(sources):
            if not src.localised or not heard[k].any() or src.heard is None:
                heard[k] = True  # nothing measured to hold on to: shown throughout
                continue
            # from the first keyframe at or after the first measurement: never before it
            first_heard[k] = float(t[np.argmax(src.heard > 0.5)])
            later = [i for i, tk in enumerate(times) if tk >= first_heard[k] - 1e-9]
            first[k] = later[0] if later else len(times) - 1

        # loudness of each source at each keyframe; silent windows hold the last value
        levels = np.full((len(sources), len(times)), np.nan)
        for k, src in enumerate(sources):
            audible = _audible(src.loudness_lufs, cues.hop_s, cues.frames.activity)
            for i, tk in enumerate(times):
                level = _window_level(src.loudness_lufs, audible, t, tk - half, tk + half)
                levels[k, i] = np.nan if level is None else level
            # in a pause the object stays as it was last heard (or will first be heard)
            valid = np.flatnonzero(np.isfinite(levels[k]))
            if valid.size == 0:
                levels[k] = float(src.loudness_lufs.max())
            else:
                idx = valid[
                    np.clip(
                        np.searchsorted(valid, np.arange(len(times)), side="right") - 1, 0, None
                    )
                ]
                levels[k] = levels[k][idx]
            if len(times) >= 3:  # syllable-to-syllable wobble is not motion
                levels[k] = median_filter1d(levels[k], 3)
            if not src.localised:  # not measured: no motion, no growth is invented for it
                levels[k] = float(np.median(levels[k]))
        ref = float(np.nanmax(levels))
        d_rel = np.clip(10.0 ** ((ref - levels) / 20.0), 1.0, MAX_D_REL)

        alone = len(sources) == 1
        azimuths = np.array(
            [
                [
                    _window_azimuth(src, cues, tk - half, tk + half, only_source=alone)
                    for tk in times
                ]
                for src in sources
            ]
        )
        for k in range(len(sources)):
            for i in range(first[k] + 1, len(times)):
                if not heard[k, i]:  # a pause: the last measured place and size
                    azimuths[k, i], d_rel[k, i] = azimuths[k, i - 1], d_rel[k, i - 1]
        thr = cues.params.side_threshold_deg
        stories = [
            describe.SourceStory(
                name=names[k],
                behaviour=describe.classify(
                    motion=src.motion if src.localised else "static",
                    loudness_change_db=src.loudness_change_db if src.localised else 0.0,
                    loudest_fraction=src.loudest_time_s / max(duration, 1e-9),
                    pitch_change_st=src.pitch_change_st,
                ),
                side_start=side_of(src.azimuth_start_deg, threshold_deg=thr),
                side_end=side_of(src.azimuth_end_deg, threshold_deg=thr),
                side=src.side,
            )
            for k, src in enumerate(sources)
        ]
        keyframes = []
        for i, tk in enumerate(times):
            shown = [k for k in range(len(sources)) if i >= first[k]]
            boxes = [
                {"id": k, "box": camera.box(float(azimuths[k, i]), float(d_rel[k, i]), names[k])}
                for k in shown
            ]
            caption = describe.frame_caption(
                [stories[k] for k in shown],
                [side_of(float(azimuths[k, i]), threshold_deg=thr) if sources[k].localised
                 else "unknown" for k in shown],
                [describe.sized(float(d_rel[k, i])) if sources[k].localised else ""
                 for k in shown],
            )  # fmt: skip
            keyframes.append({"time": tk, "caption": caption, "boxes": boxes})
        objects = []
        for k, src in enumerate(sources):
            obj: dict[str, Any] = {"id": k, "name": names[k]}
            if not src.localised:
                obj["localised"] = False
            elif first[k] > 0:
                obj["first_heard_s"] = round(first_heard[k], 3)
            objects.append(obj)
        return VSL(
            duration=round(duration, 6),
            width=options.width,
            height=options.height,
            caption=describe.global_caption(stories),
            reasoning=_reasoning(cues, sources, stories, [*notes, options.tag_note()]),
            objects=objects,
            keyframes=keyframes,
            planner="cues",
            camera={"fov_deg": camera.fov_deg, "horizon": camera.horizon},
        )


def _heard(src: SourceCues, t: np.ndarray, t0: float, t1: float) -> bool:
    """Whether the source was measured in ``[t0, t1)`` (always, for old cue sheets)."""
    if src.heard is None:
        return True
    sel = (t >= t0) & (t < t1)
    return bool(sel.any() and src.heard[sel].max() > 0.5)


def _summary_source(cues: CueSheet) -> SourceCues:
    s = cues.summary
    f = cues.frames
    return SourceCues(
        id=0,
        azimuth_deg=f.azimuth_deg,
        share=np.ones(len(f), np.float32),
        loudness_lufs=f.loudness_lufs,
        side=s.side,
        azimuth_mean_deg=s.azimuth_deg,
        azimuth_start_deg=s.azimuth_start_deg,
        azimuth_end_deg=s.azimuth_end_deg,
        motion=s.motion,
        loudness_change_db=s.loudness_change_db,
        loudest_time_s=s.loudest_time_s,
        pitch_change_st=s.pitch_change_st,
        active_fraction=1.0,
    )


def _at(cues: CueSheet, values: np.ndarray, t0: float, t1: float) -> float:
    f = cues.frames
    sel = (f.time_s >= t0) & (f.time_s < t1) & (f.activity > 0.5)
    if not sel.any():
        sel = (f.time_s >= t0) & (f.time_s < t1)
    w = f.azimuth_confidence[sel] + 1e-6
    return float(np.average(values[sel], weights=w)) if sel.any() else 0.0


def _reasoning(
    cues: CueSheet,
    sources: list[SourceCues],
    stories: list[describe.SourceStory],
    notes: list[str],
) -> str:
    """Why the layout is so, citing the measured cues with numbers."""
    d = cues.duration_s
    lines = []
    if not cues.spatial:
        lines.append("Mono input: left/right cannot be heard, every source is placed centrally.")
    if cues.params.n_sources is not None and cues.spatial:
        lines.append(
            f"{len(sources)} source(s), the number given, placed at the strongest directions "
            "of the spatial spectrum (time and level differences)."
        )
    elif len(sources) > 1:
        ranked = sorted(sources, key=lambda s: -float(s.share.mean()))
        held = ", ".join(f"{s.azimuth_mean_deg:+.0f}° {float(s.share.mean()):.0%}" for s in ranked)
        lines.append(
            f"{len(sources)} sources found in the spatial spectrum (time and level differences): "
            f"separate directions that each keep a peak of their own through a good part of the "
            f"clip; their shares of the directional energy: {held}."
        )
    else:
        lines.append("1 source found in the spatial spectrum (time and level differences).")
    edge = min(1.0, d / 5)
    thr = cues.params.side_threshold_deg
    for src, story in zip(sources, stories, strict=True):
        parts = [f"{story.name}:"]
        if not src.localised:  # nothing of it was measured: nothing to cite
            lines.append(f"{story.name}: not localised (no direction of its own in the "
                         f"recording); drawn still at {src.azimuth_mean_deg:+.0f}°.")  # fmt: skip
            continue
        if len(sources) == 1 and cues.spatial:
            itd0 = _at(cues, cues.frames.itd_ms, 0, edge)
            ild0 = _at(cues, cues.frames.ild_db, 0, edge)
            itd1 = _at(cues, cues.frames.itd_ms, d - edge, d + 1)
            ild1 = _at(cues, cues.frames.ild_db, d - edge, d + 1)
            parts.append(
                f"ITD {itd0:+.2f} ms, ILD {ild0:+.1f} dB at the start -> azimuth "
                f"{src.azimuth_start_deg:+.0f}° "
                f"({side_of(src.azimuth_start_deg, threshold_deg=thr)});"
            )
            if story.moving_sideways:
                parts.append(
                    f"ITD {itd1:+.2f} ms, ILD {ild1:+.1f} dB at the end -> "
                    f"{src.azimuth_end_deg:+.0f}° "
                    f"({side_of(src.azimuth_end_deg, threshold_deg=thr)});"
                )
        else:
            parts.append(
                f"azimuth {src.azimuth_start_deg:+.0f}° -> {src.azimuth_end_deg:+.0f}° "
                f"({src.share.mean():.0%} of the directional energy);"
            )
        parts.append(
            f"loudness {src.loudness_change_db:+.1f} dB from the first to the last third, "
            f"loudest at {src.loudest_time_s:.1f} s"
        )
        if abs(src.pitch_change_st) >= 0.1:
            parts[-1] += f"; pitch {src.pitch_change_st:+.2f} semitones"
        verdict = {
            "static": "stays in place",
            "left_to_right": "moves left to right",
            "right_to_left": "moves right to left",
            "passing": "passes by (sideways motion, loudness peak inside the clip, falling pitch)",
            "approaching": "approaches (rising loudness): it grows",
            "receding": "recedes (falling loudness): it shrinks",
        }[story.behaviour]
        lines.append(" ".join(parts) + f" -> {verdict}.")
    lines.extend(n for n in notes if n)
    return " ".join(lines)

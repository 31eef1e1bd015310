"""The measured cues as compact text for a language model, and as a feature vector for retrieval.

The text gives, per keyframe time, each tracked source's azimuth and the confidence of the
measurement, the broadband time and level differences, loudness and its slope, the pitch change
(Doppler) and the onsets, followed by one line per source summarising its whole clip. Numbers
are rounded to what matters, so a 10 s clip with two sources costs a few hundred tokens.
"""

from __future__ import annotations

import math

import numpy as np

from spa2v.audio.cues import CueSheet

#: Length of the cue feature vector used for in-context example retrieval.
N_FEATURES = 12


def _window(cues: CueSheet, t: float, half: float) -> np.ndarray:
    f = cues.frames.time_s
    sel = (f >= t - half) & (f < t + half)
    if not sel.any():
        sel = np.zeros(f.size, bool)
        sel[int(np.argmin(np.abs(f - t)))] = True
    return sel


def _wmean(values: np.ndarray, weights: np.ndarray) -> float:
    ok = np.isfinite(values) & np.isfinite(weights)
    if not ok.any():
        return float("nan")
    w = weights[ok] + 1e-9
    return float(np.sum(values[ok] * w) / np.sum(w))


def _fmt(v: float, spec: str) -> str:
    return "—" if not math.isfinite(v) else format(v, spec)


def _semitones(ratio: float) -> float:
    return 12.0 * math.log2(ratio) if ratio > 0 and math.isfinite(ratio) else float("nan")


def cue_text(cues: CueSheet, times: list[float]) -> str:
    """The cue sheet as text, one row per keyframe time.

    Parameters
    ----------
    cues : CueSheet
        Measured cues.
    times : list of float
        Keyframe times, s.

    Returns
    -------
    str
    """
    f = cues.frames
    span = cues.duration_s / max(len(times), 1)
    half = max(span / 2, 0.1)
    srcs = cues.sources
    lines = [
        f"Recording: {cues.duration_s:.2f} s, {'stereo' if cues.channels == 2 else 'mono'}.",
    ]
    if cues.channels == 2:
        share = float(np.nanmean(f.itd_share)) if len(f) else 0.5
        cue = "time differences" if share >= 0.5 else "level differences"
        lines.append(
            f"Left/right is carried mostly by {cue} (time-difference share {share:.2f}); "
            "azimuth + = left, - = right, 0 = ahead; conf 0-1."
        )
        lines.append(f"Sources tracked: {len(srcs)} (S0 is the leftmost on average).")
    else:
        lines.append("Mono: left/right cannot be measured; every azimuth below is 0.")
    head = ["t s"] + [f"S{k} az/conf" for k in range(len(srcs))]
    head += ["ITD ms", "ILD dB", "loud LUFS", "slope dB/s", "pitch st", "onsets"]
    lines.append(" | ".join(head))
    ref_pitch = float(np.nanmedian(f.pitch_ratio)) if len(f) else 1.0
    onsets = np.asarray(cues.onsets_s, float)
    for t in times:
        sel = _window(cues, t, half)
        conf = f.azimuth_confidence[sel]
        row = [f"{t:.2f}"]
        for src in srcs:
            az = _wmean(src.azimuth_deg[sel], src.share[sel])
            c = float(np.mean(conf * np.clip(src.share[sel] * len(srcs), 0, 1)))
            row.append(f"{_fmt(az, '+.0f')}/{c:.1f}")
        voiced = f.voicing[sel] >= 0.6
        pitch = (
            _semitones(float(np.median(f.pitch_ratio[sel][voiced])) / ref_pitch)
            if voiced.any() and ref_pitch > 0
            else float("nan")
        )
        n_on = int(np.sum((onsets >= t - half) & (onsets < t + half)))
        row += [
            _fmt(_wmean(f.itd_ms[sel], f.itd_confidence[sel]), "+.2f"),
            _fmt(_wmean(f.ild_db[sel], f.ild_confidence[sel]), "+.1f"),
            _fmt(float(np.nanmean(f.loudness_lufs[sel])), ".0f"),
            _fmt(float(np.nanmean(f.loudness_slope_db_per_s[sel])), "+.1f"),
            _fmt(pitch, "+.1f"),
            str(n_on),
        ]
        lines.append(" | ".join(row))
    for k, src in enumerate(srcs):
        lines.append(
            f"S{k} overall: side {src.side}, mean azimuth {src.azimuth_mean_deg:+.0f}, "
            f"start {src.azimuth_start_deg:+.0f} -> end {src.azimuth_end_deg:+.0f} "
            f"({src.motion.replace('_', ' ')}), loudness change {src.loudness_change_db:+.1f} dB "
            f"(last vs first third), loudest at {src.loudest_time_s:.1f} s, pitch change "
            f"{src.pitch_change_st:+.2f} st, main source in {src.active_fraction:.0%} of frames."
        )
    s = cues.summary
    lines.append(
        f"Whole mix: {len(cues.onsets_s)} onsets ({s.onset_rate_hz:.1f}/s), voiced "
        f"{s.voiced_fraction:.0%}, loudness {s.loudness_trend} ({s.loudness_change_db:+.1f} dB)."
    )
    return "\n".join(lines)


def cue_features(cues: CueSheet) -> np.ndarray:
    """A fixed-length description of the clip for nearest-neighbour example retrieval.

    Number of sources; the main source's azimuth at start, middle and end; its loudness change,
    pitch change and where its loudest moment falls; onset rate and voiced fraction; the
    time-difference share; the azimuths of the leftmost and rightmost sources.

    Returns
    -------
    np.ndarray [shape=(N_FEATURES,)]
    """
    s = cues.summary
    srcs = cues.sources
    main = max(srcs, key=lambda x: x.active_fraction) if srcs else None
    dur = max(cues.duration_s, 1e-6)
    if main is not None:
        az = (main.azimuth_start_deg, main.azimuth_mean_deg, main.azimuth_end_deg)
        change, pitch, loudest = (
            main.loudness_change_db, main.pitch_change_st, main.loudest_time_s / dur
        )  # fmt: skip
    else:
        az = (s.azimuth_start_deg, s.azimuth_deg, s.azimuth_end_deg)
        change, pitch, loudest = s.loudness_change_db, s.pitch_change_st, s.loudest_time_s / dur
    means = [x.azimuth_mean_deg for x in srcs] or [s.azimuth_deg]
    share = float(np.nanmean(cues.frames.itd_share)) if len(cues.frames) else 0.5
    v = np.array(
        [
            len(srcs) / 3.0,
            *(a / 90.0 for a in az),
            np.clip(change / 20.0, -1.5, 1.5),
            np.clip(pitch / 2.0, -1.5, 1.5),
            loudest,
            min(s.onset_rate_hz / 5.0, 2.0),
            s.voiced_fraction,
            share if math.isfinite(share) else 0.5,
            max(means) / 90.0,
            min(means) / 90.0,
        ],
        dtype=np.float64,
    )
    return np.nan_to_num(v, nan=0.0)

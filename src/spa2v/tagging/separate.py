"""Each tracked source's own signal: a soft time-frequency mask toward its direction.

For every STFT bin the observed interaural phase and level difference are compared with what
each tracked source would produce from its azimuth at that moment (the cue sheet's laws:
``ITD = itd_ref * sin(az)``, ``ILD = ild_ref * atanh(sin(az))``); each bin is shared among the
sources by a softmax of that mismatch (DUET-style, Jourjine, Rickard & Yilmaz 2000). The
masked mid signal ``(L + R) / 2`` of a source is what its tagger hears. Phase is only compared
below the frequency where it wraps within the delay range; level everywhere when the recording
carries its left/right in level differences (coincident pairs, panned mixes), and only above
1.5 kHz, where a head shadows, when it carries it in time differences. A lone source gets the
whole mix.
"""

from __future__ import annotations

import numpy as np

from spa2v.audio.cues import CueSheet

#: Temperature of the soft mask (in units of the mismatch).
MASK_TEMPERATURE = 0.15
#: Level mismatch (dB) that counts as much as half a period of phase.
ILD_SCALE_DB = 6.0
#: Lowest frequency whose level difference is compared when time differences carry the side.
LEVEL_FROM_HZ = 1500.0


def source_signals(
    samples: np.ndarray, sr: int, cues: CueSheet, *, frame: int = 1024
) -> list[np.ndarray]:
    """The mono signal of each tracked source (in the cue sheet's source order).

    Parameters
    ----------
    samples : np.ndarray [shape=(2, n)] or [shape=(1, n)]
        The recording (left, right).
    sr : int
        Its sample rate.
    cues : CueSheet
        Cues of the same recording, with tracked sources.
    frame : int
        STFT length.

    Returns
    -------
    list of np.ndarray
        One float32 signal per source, as long as the recording.
    """
    from scipy.signal import istft, stft

    srcs = cues.sources
    n = samples.shape[-1]
    mid = samples.mean(axis=0).astype(np.float32)
    if len(srcs) <= 1 or samples.shape[0] < 2:
        return [mid] * max(1, len(srcs))
    f, t, spec = stft(samples, fs=sr, nperseg=frame, noverlap=frame * 3 // 4)
    left, right = spec[0], spec[1]
    eps = 1e-12
    ipd = np.angle(left * np.conj(right))  # > 0: left leads
    ild = 10 * np.log10((np.abs(left) ** 2 + eps) / (np.abs(right) ** 2 + eps))
    itd_ref = cues.params.itd_ref_ms / 1000.0
    ild_ref = cues.params.ild_ref_db
    wrap_hz = 1.0 / (2.0 * max(itd_ref, 1e-4))
    phase_ok = (f < wrap_hz)[:, None]
    share = float(np.nanmean(cues.frames.itd_share)) if len(cues.frames) else 0.5
    level_ok = (f >= (LEVEL_FROM_HZ if share >= 0.5 else 0.0))[:, None]
    ft = cues.frames.time_s
    mismatch = []
    for src in srcs:
        az = np.radians(np.interp(t, ft, src.azimuth_deg))
        s = np.sin(az)
        itd = itd_ref * s  # (frames,)
        ild_k = ild_ref * np.arctanh(np.clip(s, -0.95, 0.95))
        dphi = np.angle(np.exp(1j * (ipd - 2 * np.pi * f[:, None] * itd[None, :]))) / np.pi
        dlev = np.abs(ild - ild_k[None, :]) / ILD_SCALE_DB
        mismatch.append(
            np.where(phase_ok, np.abs(dphi), 0.0) + np.where(level_ok, np.minimum(dlev, 3.0), 0.0)
        )
    m = -np.stack(mismatch) / MASK_TEMPERATURE
    m -= m.max(axis=0, keepdims=True)
    weights = np.exp(m)
    weights /= weights.sum(axis=0, keepdims=True)
    mid_spec = (left + right) / 2
    out = []
    for k in range(len(srcs)):
        _, y = istft(weights[k] * mid_spec, fs=sr, nperseg=frame, noverlap=frame * 3 // 4)
        y = np.asarray(y[:n], dtype=np.float32)
        if y.size < n:
            y = np.pad(y, (0, n - y.size))
        out.append(y)
    return out

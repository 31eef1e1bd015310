"""Onsets from spectral flux over analysis bands.

Flux is the half-wave rectified increase of log-compressed band power between consecutive
frames (Bello et al. 2005; Böck & Widmer 2013 use the same rectified log flux). Peaks are picked
against a moving median so a steady hum does not trigger onsets.
"""

from __future__ import annotations

import numpy as np

from spa2v.audio.filters import maximum_filter1d, median_filter1d

#: Compression constant of ``log1p(gamma * power)`` (power as mean square; 1e-4 = -40 dBFS).
FLUX_GAMMA = 1e4


def compress(band_power: np.ndarray) -> np.ndarray:
    """Log-compressed band power used by the flux."""
    return np.log1p(FLUX_GAMMA * band_power).astype(np.float32)


def spectral_flux(compressed: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Rectified flux per frame from ``(frames, bands)`` compressed power.

    ``previous`` is the last compressed row of the preceding block (None at the start),
    so block-wise and whole-signal processing give the same values.
    """
    if previous is None:
        previous = compressed[:1]
    prev = np.concatenate([previous[None, :] if previous.ndim == 1 else previous, compressed[:-1]])
    return np.maximum(compressed - prev, 0.0).sum(axis=1).astype(np.float32)


def pick_onsets(
    flux: np.ndarray,
    *,
    hop_s: float,
    activity: np.ndarray | None = None,
    median_s: float = 0.5,
    min_gap_s: float = 0.05,
    rise: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised onset strength and onset times.

    Parameters
    ----------
    flux : np.ndarray [shape=(frames,)]
        Spectral flux.
    hop_s : float
        Frame hop in seconds.
    activity : np.ndarray or None
        Per-frame weight in [0, 1] that suppresses onsets in noise-only stretches.
    median_s : float
        Width of the moving median subtracted before picking.
    min_gap_s : float
        Minimum time between two onsets.
    rise : float
        An onset needs flux above ``(1 + rise)`` times its moving median: steady sounds
        (engines, rain) fluctuate less than that from frame to frame, onsets much more.

    Returns
    -------
    strength : np.ndarray [shape=(frames,)]
        Flux above its moving median, scaled to [0, 1] by its 99.5th percentile.
    onset_times_s : np.ndarray
        Times of the picked onsets in seconds.
    """
    n = flux.size
    if n < 3:
        return np.zeros(n, dtype=np.float32), np.zeros(0, dtype=np.float32)
    width = max(3, int(round(median_s / hop_s)) | 1)
    level = median_filter1d(flux, width)
    detrended = np.maximum(flux - level, 0.0)
    if activity is not None:
        detrended = detrended * activity
    scale = float(np.percentile(detrended, 99.5))
    if scale <= 1e-9:
        return np.zeros(n, dtype=np.float32), np.zeros(0, dtype=np.float32)
    strength = np.clip(detrended / scale, 0.0, 1.0).astype(np.float32)
    gap = max(1, int(round(min_gap_s / hop_s)))
    floor = 0.05 * float(np.max(flux))  # a jump out of digital silence still counts
    relative = detrended / np.maximum(level, floor)
    is_peak = (strength >= maximum_filter1d(strength, 2 * gap + 1)) & (relative > rise)
    idx = np.flatnonzero(is_peak)
    # plateaus: keep the first frame of each run
    if idx.size:
        keep = np.r_[True, np.diff(idx) > gap]
        idx = idx[keep]
    return strength, (idx * hop_s).astype(np.float32)

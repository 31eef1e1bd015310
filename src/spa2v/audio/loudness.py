"""Loudness after ITU-R BS.1770 (K-weighting, short windows) and its trend.

K-weighting is applied in the frequency domain to the STFT power that the other cues already
use (Parseval), so loudness costs one weighted sum per frame instead of a second pass of IIR
filtering. The two K-weighting stages are designed for the actual sample rate with the
BS.1770 analogue parameters (shelf +4 dB at 1682 Hz, high-pass at 38 Hz).
"""

from __future__ import annotations

import numpy as np

from spa2v.audio.filters import uniform_filter1d

#: Lowest loudness reported; quieter frames are clamped here.
LOUDNESS_FLOOR_LUFS = -120.0


def k_weighting_sos(sr: int) -> np.ndarray:
    """Second-order sections of the BS.1770 K-weighting filter at ``sr`` Hz."""
    sos = []
    # stage 1: high shelf (head acoustics)
    gain_db, fc, q = 3.99984385397, 1681.9744509555319, 0.7071752369554193
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * fc / sr
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    b0 = a * ((a + 1) + (a - 1) * cw + 2 * np.sqrt(a) * alpha)
    b1 = -2 * a * ((a - 1) + (a + 1) * cw)
    b2 = a * ((a + 1) + (a - 1) * cw - 2 * np.sqrt(a) * alpha)
    a0 = (a + 1) - (a - 1) * cw + 2 * np.sqrt(a) * alpha
    a1 = 2 * ((a - 1) - (a + 1) * cw)
    a2 = (a + 1) - (a - 1) * cw - 2 * np.sqrt(a) * alpha
    sos.append([b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0])
    # stage 2: high-pass (RLB weighting)
    fc, q = 38.13547087602444, 0.5003270373238773
    w0 = 2 * np.pi * fc / sr
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    a0 = 1 + alpha
    sos.append(
        [(1 + cw) / 2 / a0, -(1 + cw) / a0, (1 + cw) / 2 / a0, 1.0, -2 * cw / a0, (1 - alpha) / a0]
    )
    return np.asarray(sos)


def k_weighting_power_gain(freqs_hz: np.ndarray, sr: int) -> np.ndarray:
    """``|H_K(f)|^2`` of the K-weighting filter at the given frequencies."""
    # the sections' response evaluated directly (as scipy.signal.sosfreqz does): importing
    # scipy.signal costs ~0.5 s of start-up for these few lines
    z = np.exp(-2j * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sr)
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in k_weighting_sos(sr):
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return (np.abs(h) ** 2).astype(np.float32)


def linear_slope(x: np.ndarray, width: int, *, delta: float) -> np.ndarray:
    """Least-squares slope of ``x`` over a centred window of odd ``width`` samples.

    The edges are extended with their values. This is
    ``scipy.signal.savgol_filter(x, width, 1, deriv=1, delta=delta, mode="nearest")``,
    written out because importing scipy.signal costs ~0.5 s of every command's start-up.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Evenly spaced samples.
    width : int
        Odd window length, 3 or more.
    delta : float
        Spacing of the samples (the slope is per unit of ``delta``).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    half = width // 2
    k = np.arange(-half, half + 1, dtype=np.float64)
    weights = k / (np.sum(k * k) * delta)
    return np.correlate(np.pad(np.asarray(x, np.float64), half, mode="edge"), weights, "valid")


def momentary_loudness(k_power: np.ndarray, *, hop_s: float, window_s: float = 0.4) -> np.ndarray:
    """Loudness in LUFS over a sliding window from per-frame K-weighted mean squares.

    Parameters
    ----------
    k_power : np.ndarray [shape=(frames,)]
        K-weighted mean-square power per frame, summed over channels (BS.1770 channel
        weights are 1 for left and right).
    hop_s : float
        Frame hop in seconds.
    window_s : float
        Integration window (0.4 s = BS.1770 "momentary" loudness).

    Returns
    -------
    np.ndarray [shape=(frames,)]
        ``-0.691 + 10 log10(mean power)``, clamped at :data:`LOUDNESS_FLOOR_LUFS`.
    """
    width = max(1, int(round(window_s / hop_s)))
    mean = uniform_filter1d(k_power.astype(np.float64), width)
    lufs = -0.691 + 10.0 * np.log10(np.maximum(mean, 1e-30))
    return np.maximum(lufs, LOUDNESS_FLOOR_LUFS).astype(np.float32)


def loudness_slope(
    loudness_lufs: np.ndarray, *, hop_s: float, window_s: float = 1.0, range_db: float = 60.0
) -> np.ndarray:
    """Local slope of loudness in dB/s (least-squares line over ``window_s``).

    Frames more than ``range_db`` below the loudest frame are raised to that level first, so
    the slope of a fade into digital silence stays finite and meaningful.
    """
    n = loudness_lufs.size
    clamped = np.maximum(loudness_lufs, loudness_lufs.max() - range_db).astype(np.float64)
    width = int(round(window_s / hop_s)) | 1
    width = min(width, n if n % 2 else n - 1)
    if width < 3:
        return np.zeros(n, dtype=np.float32)
    return linear_slope(clamped, width, delta=hop_s).astype(np.float32)

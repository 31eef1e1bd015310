"""Fundamental frequency and its relative change (Doppler) from frame power spectra.

A YIN-style estimator (de Cheveigné & Kawahara 2002) vectorised over all frames at once. The
autocorrelation of each frame is the inverse FFT of its power spectrum (Wiener–Khinchin); the
spectrum is band-limited before the inverse transform, which decimates the lag axis and makes
the step cheap. The Hann window's own autocorrelation is divided out (Boersma 1993) so the
periodicity of a steady tone is ~1 at its period. The channels' powers are summed (not their
waveforms), so a spaced microphone pair's comb filtering does not create false periods.

Lags are limited to a quarter of the frame, where circular wrap-around of the FFT is
negligible: with the default 64 ms frame the lowest f0 is about 60 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spa2v.audio.filters import median_filter1d
from spa2v.errors import ParameterError


@dataclass(frozen=True)
class PitchTracker:
    """Pre-computed state for :meth:`track` at one STFT geometry.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_fft : int
        STFT frame length in samples.
    window : np.ndarray [shape=(n_fft,)]
        Analysis window.
    fmin_hz, fmax_hz : float
        Search range of the fundamental.
    threshold : float
        YIN absolute threshold on the cumulative-mean-normalised difference.
    """

    sr: int
    n_fft: int
    window: np.ndarray = field(repr=False)
    fmin_hz: float = 60.0
    fmax_hz: float = 1000.0
    threshold: float = 0.2
    n_keep: int = field(init=False)
    n_lag: int = field(init=False)
    sr_lag: float = field(init=False)
    lag_min: int = field(init=False)
    lag_max: int = field(init=False)
    window_acf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0 < self.fmin_hz < self.fmax_hz):
            raise ParameterError("pitch range needs 0 < fmin_hz < fmax_hz")
        cut_hz = min(8000.0, 0.5 * self.sr)
        n_keep = int(cut_hz * self.n_fft / self.sr) + 1
        n_keep = min(n_keep, self.n_fft // 2 + 1)
        n_lag = 2 * (n_keep - 1)
        sr_lag = n_lag * self.sr / self.n_fft
        lag_max = min(int(np.ceil(sr_lag / self.fmin_hz)), n_lag // 4)
        lag_min = max(2, int(np.floor(sr_lag / self.fmax_hz)))
        if lag_max <= lag_min + 2:
            raise ParameterError(
                f"frame too short for pitch down to {self.fmin_hz} Hz; raise frame_s"
            )
        wspec = np.abs(np.fft.rfft(self.window.astype(np.float64))[:n_keep]) ** 2
        wacf = np.fft.irfft(wspec, n=n_lag)
        object.__setattr__(self, "n_keep", n_keep)
        object.__setattr__(self, "n_lag", n_lag)
        object.__setattr__(self, "sr_lag", sr_lag)
        object.__setattr__(self, "lag_min", lag_min)
        object.__setattr__(self, "lag_max", lag_max)
        object.__setattr__(self, "window_acf", (wacf / wacf[0]).astype(np.float32))

    @property
    def effective_fmin_hz(self) -> float:
        """Lowest f0 that can be reported."""
        return self.sr_lag / self.lag_max

    def track(self, power: np.ndarray, *, fft: Any = np.fft) -> tuple[np.ndarray, np.ndarray]:
        """Estimate f0 for each frame from its one-sided power spectrum.

        Parameters
        ----------
        power : np.ndarray [shape=(frames, n_fft // 2 + 1)]
            Power spectrum (channels summed).
        fft : module
            :mod:`numpy.fft` or :mod:`scipy.fft`.

        Returns
        -------
        f0_hz : np.ndarray [shape=(frames,)]
            Best period candidate as a frequency (meaningful where periodicity is high).
        periodicity : np.ndarray [shape=(frames,)]
            ``1 - d'(T)`` of the chosen period, in [0, 1]; ~1 for a clean periodic sound.
        """
        p = power[:, : self.n_keep].copy()
        p[:, : max(1, int(30.0 * self.n_fft / self.sr))] = 0.0  # ignore DC and rumble
        acf = fft.irfft(p, n=self.n_lag, axis=-1)[:, : self.lag_max + 2]
        r0 = np.maximum(acf[:, :1], 1e-30)
        rho = acf / r0 / self.window_acf[: self.lag_max + 2]
        d = np.maximum(1.0 - rho, 0.0)
        d[:, 0] = 0.0
        cum = np.cumsum(d[:, 1:], axis=1)
        taus = np.arange(1, d.shape[1])
        dn = np.ones_like(d)
        dn[:, 1:] = d[:, 1:] * taus / np.maximum(cum, 1e-12)
        lo, hi = self.lag_min, self.lag_max
        seg = dn[:, lo : hi + 1]
        local_min = np.zeros_like(seg, dtype=bool)
        local_min[:, 1:-1] = (seg[:, 1:-1] <= seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:])
        below = local_min & (seg < self.threshold)
        has = below.any(axis=1)
        first = np.argmax(below, axis=1)
        best = np.where(has, first, np.argmin(seg, axis=1))
        idx = best + lo
        rows = np.arange(seg.shape[0])
        y0 = dn[rows, idx]
        ym = dn[rows, idx - 1]
        yp = dn[rows, np.minimum(idx + 1, dn.shape[1] - 1)]
        denom = ym - 2 * y0 + yp
        delta = np.where(denom > 1e-9, 0.5 * (ym - yp) / np.where(denom > 1e-9, denom, 1.0), 0.0)
        delta = np.clip(delta, -0.5, 0.5)
        lag = idx + delta
        f0 = self.sr_lag / lag
        periodicity = np.clip(1.0 - y0, 0.0, 1.0)
        return f0.astype(np.float32), periodicity.astype(np.float32)


def doppler_ratio(
    f0_hz: np.ndarray, voiced: np.ndarray, *, smooth_frames: int = 5
) -> tuple[np.ndarray, float]:
    """Pitch relative to the recording's median voiced pitch.

    Parameters
    ----------
    f0_hz : np.ndarray [shape=(frames,)]
        Frame f0 estimates.
    voiced : np.ndarray [shape=(frames,), dtype=bool]
        Frames where ``f0_hz`` is trusted.
    smooth_frames : int
        Median filter over voiced frames against octave slips.

    Returns
    -------
    ratio : np.ndarray [shape=(frames,)]
        ``f0 / reference`` on voiced frames, 1.0 elsewhere. Above 1 while a moving source
        approaches, below 1 as it recedes (Doppler).
    reference_hz : float
        Median voiced f0, or 0.0 when nothing is voiced.
    """
    ratio = np.ones_like(f0_hz, dtype=np.float32)
    if not voiced.any():
        return ratio, 0.0
    f = f0_hz[voiced].astype(np.float64)
    if f.size >= smooth_frames:
        f = median_filter1d(f, smooth_frames)
    ref = float(np.median(f))
    ratio[voiced] = (f / ref).astype(np.float32)
    return ratio, ref


def pitch_slope(
    ratio: np.ndarray, voiced: np.ndarray, *, hop_s: float, window_s: float = 0.5
) -> np.ndarray:
    """Rate of pitch change in semitones per second (0 away from voiced frames)."""
    n = ratio.size
    out = np.zeros(n, dtype=np.float32)
    idx = np.flatnonzero(voiced)
    if idx.size < 3:
        return out
    st = 12.0 * np.log2(ratio[idx].astype(np.float64))
    filled = np.interp(np.arange(n), idx, st)
    width = int(round(window_s / hop_s)) | 1
    width = min(width, n if n % 2 else n - 1)
    if width < 3:
        return out
    from spa2v.audio.loudness import linear_slope

    slope = linear_slope(filled, width, delta=hop_s)
    near = np.zeros(n, dtype=bool)
    near[idx] = True
    near = np.convolve(near, np.ones(width), mode="same") > 0
    out[near] = slope[near]
    return out

"""Short-time spectra shared by every cue: framing, window, frequency bands.

All cues are computed from one STFT per channel so the transform is paid once. Frames are
centred at ``t_i = i * hop_s`` (the first frame is centred on the first sample, zero-padded on
the left), which is how every time axis in the cue sheet is defined.

Power values are *mean squares of the windowed frame* (Parseval-normalised), so a full-scale
sine has a broadband power of 0.5 whatever the frame length or sample rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spa2v.audio.filters import next_fast_len
from spa2v.errors import ParameterError


def erb_number(freq_hz: np.ndarray | float) -> np.ndarray:
    """ERB-rate (Cams) of a frequency, after Glasberg & Moore (1990)."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(freq_hz, dtype=np.float64))


def erb_number_to_hz(cams: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`erb_number`."""
    return (10.0 ** (np.asarray(cams, dtype=np.float64) / 21.4) - 1.0) / 0.00437


@dataclass(frozen=True)
class SpectralGrid:
    """STFT geometry and the band grouping of its bins.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    hop_s : float
        Hop between frame centres in seconds.
    frame_s : float
        Nominal frame length in seconds; rounded up to a fast FFT length.
    fmin_hz, fmax_hz : float
        Range covered by the analysis bands.
    erb_step : float
        Band width in ERB-rate units (2 gives ~16 bands from 80 Hz to 16 kHz).
    """

    sr: int
    hop_s: float = 0.02
    frame_s: float = 0.064
    fmin_hz: float = 80.0
    fmax_hz: float = 16_000.0
    erb_step: float = 2.0
    hop: int = field(init=False)
    n_fft: int = field(init=False)
    window: np.ndarray = field(init=False, repr=False)
    freqs_hz: np.ndarray = field(init=False, repr=False)
    bin_weight: np.ndarray = field(init=False, repr=False)
    band_edges_hz: np.ndarray = field(init=False, repr=False)
    band_start: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0.001 <= self.hop_s <= 1.0):
            raise ParameterError(f"hop_s must be within 1 ms … 1 s, got {self.hop_s}")
        if not (0.008 <= self.frame_s <= 1.0):
            raise ParameterError(f"frame_s must be within 8 ms … 1 s, got {self.frame_s}")
        hop = max(1, int(round(self.hop_s * self.sr)))
        n_fft = next_fast_len(int(round(self.frame_s * self.sr)), real=True)
        n_fft += n_fft % 2
        window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        freqs = np.fft.rfftfreq(n_fft, 1.0 / self.sr)
        # one-sided spectrum -> mean square of the windowed frame (Parseval)
        weight = np.full(freqs.size, 2.0)
        weight[0] = 1.0
        weight[-1] = 1.0
        weight /= n_fft * float(np.sum(window.astype(np.float64) ** 2))
        fmax = min(self.fmax_hz, 0.45 * self.sr)
        if fmax <= self.fmin_hz:
            raise ParameterError("fmax_hz must exceed fmin_hz")
        lo, hi = erb_number(self.fmin_hz), erb_number(fmax)
        n_bands = max(2, int(round((hi - lo) / self.erb_step)))
        edges = erb_number_to_hz(np.linspace(lo, hi, n_bands + 1))
        start = np.searchsorted(freqs, edges)
        # every band must own at least one bin
        for i in range(1, start.size):
            start[i] = max(start[i], start[i - 1] + 1)
        start = np.minimum(start, freqs.size - 1)
        object.__setattr__(self, "hop", hop)
        object.__setattr__(self, "n_fft", n_fft)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "freqs_hz", freqs)
        object.__setattr__(self, "bin_weight", weight.astype(np.float32))
        object.__setattr__(self, "band_edges_hz", edges)
        object.__setattr__(self, "band_start", start)

    @property
    def n_bands(self) -> int:
        """Number of analysis bands."""
        return self.band_start.size - 1

    @property
    def band_centres_hz(self) -> np.ndarray:
        """Geometric centre of each band in Hz."""
        e = self.band_edges_hz
        return np.sqrt(e[:-1] * e[1:])

    def band_sums(self, power: np.ndarray) -> np.ndarray:
        """Sum a ``(..., bins)`` power array into ``(..., bands)``."""
        s = self.band_start
        return np.add.reduceat(power[..., s[0] : s[-1]], s[:-1] - s[0], axis=-1)

    def frames(self, signal: np.ndarray, n_frames: int) -> np.ndarray:
        """Strided view of ``n_frames`` frames from a ``(channels, n)`` buffer.

        The buffer must start at the first sample of the first frame.
        """
        view = np.lib.stride_tricks.sliding_window_view(signal, self.n_fft, axis=-1)
        return view[:, : (n_frames - 1) * self.hop + 1 : self.hop]

    def spectra(self, frames: np.ndarray, *, fft: Any = np.fft) -> np.ndarray:
        """Windowed one-sided FFT (complex64) of ``(channels, frames, n_fft)`` frames.

        ``fft`` is :mod:`numpy.fft` or :mod:`scipy.fft` (see
        :func:`spa2v.audio.filters.fft_for`).
        """
        return fft.rfft(frames * self.window, axis=-1)

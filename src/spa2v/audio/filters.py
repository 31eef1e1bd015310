"""Small running filters and FFT sizes for the cue analysis, in NumPy alone.

These are the few SciPy routines the cue sheet and the planners use
(``scipy.ndimage.uniform_filter1d``, ``maximum_filter1d``, ``median_filter`` on 1-D signals,
``scipy.fft.next_fast_len``), written out with the same window placement and edge rule
(``mode="nearest"``: the signal's end values continue). The reason is start-up time: SciPy
1.17 spends about 0.4 s of every command importing its array-API layer before any of its
filters can be used, which is most of the time of ``spa2v plan`` on a short clip. The
equivalence is pinned by tests against SciPy. FFTs come from :mod:`numpy.fft` (pocketfft, the
same code SciPy uses), which keeps float32 input in single precision.
"""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Views of ``size`` consecutive samples along ``axis``, edge-extended, on the last axis.

    Window ``i`` covers samples ``i - size // 2 … i - size // 2 + size - 1`` (SciPy's
    placement for origin 0), so even sizes lean left as in :mod:`scipy.ndimage`.
    """
    if size < 1:
        raise ValueError(f"filter size must be at least 1, got {size}")
    a = np.moveaxis(np.asarray(x), axis, -1)
    before = size // 2
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(before, size - 1 - before)], mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, size, axis=-1)


def uniform_filter1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Running mean over ``size`` samples along ``axis`` (edges extended).

    Parameters
    ----------
    x : np.ndarray
        Signal(s).
    size : int
        Window length in samples.
    axis : int
        Axis along which to filter.

    Returns
    -------
    np.ndarray
        Same shape; float inputs keep their dtype (sums in float64), others give float64.
    """
    mean = _windows(x, size, axis).mean(axis=-1, dtype=np.float64)
    dtype = x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float64
    return np.moveaxis(mean, -1, axis).astype(dtype, copy=False)


def maximum_filter1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Running maximum over ``size`` samples along ``axis`` (edges extended)."""
    return np.moveaxis(_windows(x, size, axis).max(axis=-1), -1, axis)


def median_filter1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Running median over ``size`` samples along ``axis`` (edges extended)."""
    med = np.median(_windows(x, size, axis), axis=-1)
    return np.moveaxis(med, -1, axis).astype(np.asarray(x).dtype, copy=False)


def next_fast_len(n: int, *, real: bool = False) -> int:
    """Smallest FFT size ≥ ``n`` with only small prime factors (2, 3, 5; and 7, 11 unless
    ``real``), as :func:`scipy.fft.next_fast_len` chooses."""
    if n < 1:
        raise ValueError(f"FFT size must be positive, got {n}")
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    k = n
    while True:
        m = k
        for p in primes:
            while m % p == 0:
                m //= p
        if m == 1:
            return k
        k += 1

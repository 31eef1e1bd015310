"""Small running filters and FFT sizes for the cue analysis, in NumPy alone.

These are the few SciPy routines the cue sheet and the planners use
(``scipy.ndimage.uniform_filter1d``, ``maximum_filter1d``, ``median_filter`` on 1-D signals,
``scipy.fft.next_fast_len``), written out with the same window placement and edge rule
(``mode="nearest"``: the signal's end values continue). The reason is start-up time: SciPy
1.17 spends about 0.4 s of every command importing its array-API layer before any of its
filters can be used, which is most of the time of ``spa2v plan`` on a short clip. The
equivalence is pinned by tests against SciPy. FFTs come from :mod:`numpy.fft`, which keeps
float32 input in single precision, or, for long recordings, from :mod:`scipy.fft`, whose
transforms of many frames at once are faster (:func:`fft_for`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Recordings at least this long are transformed with :mod:`scipy.fft`: its import (about
#: 0.2 s) is paid back, as it transforms many frames at once about 3-6x faster than
#: :mod:`numpy.fft`. Shorter ones use :mod:`numpy.fft` and start at once.
SCIPY_FFT_MIN_S = 120.0


def fft_for(duration_s: float | None) -> Any:
    """The FFT module for a recording of ``duration_s`` seconds (None: unknown, short).

    Both give the same transforms up to float rounding; the choice depends on the recording
    alone, so an analysis is repeatable.
    """
    if duration_s is not None and duration_s >= SCIPY_FFT_MIN_S:
        import scipy.fft

        return scipy.fft
    return np.fft


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

    O(n) and as precise as summing each window: the signal is cut into blocks of ``size``;
    a window is the tail of one block plus the head of the next, and each of those partial
    sums (float64) adds up samples of that window only, so a quiet stretch after a loud one
    keeps its precision.

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
        Same shape; float inputs keep their dtype, others give float64.
    """
    if size < 1:
        raise ValueError(f"filter size must be at least 1, got {size}")
    a = np.moveaxis(np.asarray(x), axis, -1)
    n, before = a.shape[-1], size // 2
    lead = a.shape[:-1]
    padded = np.pad(a.astype(np.float64), [(0, 0)] * len(lead) + [(before, size - 1 - before)],
                    mode="edge")  # fmt: skip
    blocks = -(-padded.shape[-1] // size) + 1
    full = np.zeros((*lead, blocks * size))
    full[..., : padded.shape[-1]] = padded
    full = full.reshape(*lead, blocks, size)
    head = np.cumsum(full, axis=-1).reshape(*lead, -1)  # block start … sample
    tail = np.cumsum(full[..., ::-1], axis=-1)[..., ::-1].reshape(*lead, -1)  # sample … end
    i = np.arange(n)
    # the window from i: the tail of i's block, plus the head of the next up to i + size - 1
    # (nothing more when i starts a block: the tail is then the whole window)
    rest = np.where(i % size > 0, head[..., i + size - 1], 0.0)
    sums = tail[..., i] + rest
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64
    return np.moveaxis(sums / size, -1, axis).astype(dtype, copy=False)


def maximum_filter1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Running maximum over ``size`` samples along ``axis`` (edges extended)."""
    return np.moveaxis(_windows(x, size, axis).max(axis=-1), -1, axis)


def median_filter1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Running median over ``size`` samples along ``axis`` (edges extended).

    For an even ``size`` the upper of the two middle values, as :mod:`scipy.ndimage` gives.
    """
    windows = _windows(x, size, axis)
    med = np.partition(windows, size // 2, axis=-1)[..., size // 2]
    return np.moveaxis(med, -1, axis)


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

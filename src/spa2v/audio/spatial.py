"""Left/right cues: time difference (GCC-PHAT), level difference, and their fusion.

Sign convention (used everywhere in spa2v)
------------------------------------------
Every left/right quantity is **positive towards the listener's left**:

* ``itd`` > 0: the left channel leads (the sound reaches the left microphone/ear first);
* ``ild`` > 0 dB: the left channel is louder;
* ``azimuth`` > 0°: the source is to the left; +90° hard left, −90° hard right, 0° ahead.

Fusion
------
Microphone arrays differ in which cue they carry. A dummy head has both a time and a level
difference; a spaced omni pair has large time differences and almost no level difference; a
coincident pair or an amplitude-panned mix has level differences only (time difference ~0).
None of them produces a *false* lateral cue: a cue the array does not carry sits at "centre"
with high coherence. :func:`fuse_azimuth` therefore weighs each cue by its per-frame
confidence *and* by how informative it is in the surrounding stretch of the recording (its
confidence-weighted mean lateralisation over a window of ``context_s``): a cue that never
leaves the centre while the other one does is discounted. This needs no knowledge of the
microphone type.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from spa2v.audio.filters import maximum_filter1d, next_fast_len, uniform_filter1d

#: Reference ITD mapped to 90°: a human head (Woodworth model, 8.75 cm radius).
ITD_REF_MS = 0.66
#: PHAT-β exponent of the GCC weighting (1 = classic PHAT).
PHAT_BETA = 0.75
#: ILD scale (dB) of the tanh mapping from level difference to lateralisation. Coincident
#: XY cardioids, sin/cos panning and a head (band-weighted) all give about 2 dB at 15°,
#: 4–5 dB at 30° and 6–8 dB at 45°, which ``asin(tanh(ild / 7.5))`` follows.
ILD_REF_DB = 7.5


def phat_cross_spectrum(
    spec_left: np.ndarray,
    spec_right: np.ndarray,
    *,
    n_fft: int,
    sr: int,
    band_hz: tuple[float, float] = (100.0, 12_000.0),
    beta: float = PHAT_BETA,
) -> tuple[np.ndarray, np.ndarray]:
    """PHAT-β weighted cross-spectrum ``R conj(L) / |R conj(L)|^β`` over ``band_hz``.

    β = 1 is classic PHAT (every bin counts the same, sharpest peak); β < 1 keeps some of the
    magnitude so that bins where the source actually has energy outweigh bins holding only
    noise and reverberation — essential for tonal sounds with few harmonics. Averaging the
    result over a few frames before :func:`gcc_phat_peak` lets the direct path add up
    coherently while diffuse reverberation and noise average out.

    Returns
    -------
    cross : np.ndarray [shape=(frames, bins_in_band), complex64]
        Bins ``phat_bins(...)`` of the weighted cross-spectrum.
    weight : np.ndarray [shape=(frames,), float32]
        Sum of the bin magnitudes of ``cross``; normalises the correlation peak to 1 for a
        pure delay.
    """
    lo, hi = phat_bins(spec_left.shape[-1], n_fft=n_fft, sr=sr, band_hz=band_hz)
    # R * conj(L): a right channel that lags the left by d gives a peak at lag +d
    c = spec_right[:, lo:hi] * np.conj(spec_left[:, lo:hi])
    mag = np.maximum(np.abs(c), 1e-30)
    if beta == 1.0:
        return (c / mag).astype(np.complex64, copy=False), np.full(c.shape[0], hi - lo, np.float32)
    if beta == 0.75:  # the default: two square roots are much cheaper than a power
        w = np.sqrt(np.sqrt(mag))
    else:
        w = mag ** np.float32(1.0 - beta)
    cross = (c * (w / mag)).astype(np.complex64, copy=False)
    return cross, w.sum(axis=1).astype(np.float32)


def phat_bins(
    n_bins: int, *, n_fft: int, sr: int, band_hz: tuple[float, float] = (100.0, 12_000.0)
) -> tuple[int, int]:
    """First and one-past-last bin of the GCC-PHAT band."""
    lo = int(np.ceil(band_hz[0] * n_fft / sr))
    hi = int(np.floor(min(band_hz[1], 0.48 * sr) * n_fft / sr)) + 1
    return max(lo, 1), min(hi, n_bins)


def gcc_phat_correlation(
    cross: np.ndarray,
    weight: np.ndarray,
    *,
    n_fft: int,
    sr: int,
    max_delay_s: float = 0.001,
    band_hz: tuple[float, float] = (100.0, 12_000.0),
    fft: Any = np.fft,
) -> tuple[np.ndarray, float]:
    """Generalised cross-correlation (GCC-PHAT) of each frame over the searched lags.

    Parameters
    ----------
    cross : np.ndarray [shape=(frames, bins_in_band), complex]
        Output of :func:`phat_cross_spectrum`, possibly averaged over frames.
    weight : np.ndarray [shape=(frames,)]
        The matching weight sums (averaged the same way).
    n_fft : int
        Frame length the spectra were computed with.
    sr : int
        Sample rate in Hz.
    max_delay_s : float
        Search range: lags within ±``max_delay_s``.
    band_hz : (float, float)
        Frequency range used by :func:`phat_cross_spectrum`.
    fft : module
        :mod:`numpy.fft` or :mod:`scipy.fft` (see :func:`spa2v.audio.filters.fft_for`).

    Returns
    -------
    corr : np.ndarray [shape=(frames, 2 * max_lag + 1), float32]
        Correlation at lags ``-max_lag … +max_lag`` (in steps of ``1 / lag_sr`` seconds);
        1 at the true lag for a pure delay. Positive lags: the **left** channel leads.
    lag_sr : float
        Lags per second of the grid.
    """
    lo, hi = phat_bins(n_fft // 2 + 1, n_fft=n_fft, sr=sr, band_hz=band_hz)
    # The cross-spectrum is zero above the band, so an inverse FFT over just the bins up to
    # the band edge gives the correlation on a coarser lag grid (rate sr * n_lag / n_fft) at
    # a fraction of the cost; the parabolic fit in pick_itd recovers sub-sample resolution.
    n_lag = int(next_fast_len(2 * (hi - 1), real=True))
    n_lag = min(n_lag + n_lag % 2, n_fft)
    lag_sr = sr * n_lag / n_fft
    full = np.zeros((cross.shape[0], n_lag // 2 + 1), dtype=np.complex64)
    full[:, lo:hi] = cross
    corr = fft.irfft(full, n=n_lag, axis=-1)
    max_lag = max(1, min(int(np.ceil(max_delay_s * lag_sr)), n_lag // 2 - 2))
    lags_idx = np.r_[n_lag - max_lag : n_lag, 0 : max_lag + 1]
    scale = n_lag / (2.0 * np.maximum(weight, 1e-30))
    return (corr[:, lags_idx] * scale[:, None]).astype(np.float32), float(lag_sr)


def pick_itd(
    corr: np.ndarray,
    lag_sr: float,
    *,
    context_frames: int = 1,
    frame_weight: np.ndarray | None = None,
    lobe: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick the time difference of each frame from its GCC, helped by its neighbours.

    A frame's correlation can have several peaks of similar height: a spaced pair aliases
    above ``c / (2 d)``, and narrowband or periodic sounds repeat their peak every period. The
    true lag is the one that recurs as the frequency content changes, so each frame's
    correlation is added to its weighted average over ``context_frames`` before the peak is
    chosen (a steered-response-power view over time); the position is then refined on the
    frame's own correlation by parabolic interpolation.

    Parameters
    ----------
    corr : np.ndarray [shape=(frames, lags)]
        Output of :func:`gcc_phat_correlation`.
    lag_sr : float
        Lags per second of ``corr``.
    context_frames : int
        Width of the centred temporal context (1 = each frame on its own).
    frame_weight : np.ndarray [shape=(frames,)] or None
        Weight of each frame in the context (e.g. its activity).
    lobe : int
        Half-width, in lags, of the main lobe excluded when looking for a rival peak.

    Returns
    -------
    itd_s : np.ndarray [shape=(frames,)]
        Time difference in seconds; positive when the **left** channel leads.
    peak : np.ndarray [shape=(frames,)]
        Height of the chosen peak (mean of frame and context), ~1 for a clean delay.
    second : np.ndarray [shape=(frames,)]
        Height of the best rival outside the main lobe, on the same scale.
    """
    n_frames, n_lags = corr.shape
    max_lag = (n_lags - 1) // 2
    if n_frames == 0:
        empty = np.zeros(0, dtype=np.float32)
        return empty, empty, empty
    score = corr
    if context_frames > 1:
        w = np.ones(n_frames, np.float32) if frame_weight is None else frame_weight
        w = w.astype(np.float32) + np.float32(1e-6)
        score = uniform_filter1d(corr * w[:, None], context_frames, axis=0)
        score /= uniform_filter1d(w, context_frames)[:, None]
        score += corr
        score *= np.float32(0.5)
    out = np.empty((3, n_frames), dtype=np.float32)
    chunk = 8192  # bounds the temporaries for hour-long inputs
    for start in range(0, n_frames, chunk):
        sl = slice(start, start + chunk)
        out[:, sl] = _pick_peaks(corr[sl], score[sl], max_lag=max_lag, lobe=lobe)
    out[0] /= lag_sr
    return out[0], out[1], out[2]


def _pick_peaks(
    corr: np.ndarray, score: np.ndarray, *, max_lag: int, lobe: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lag (in lag steps), peak and rival height for a block of frames; see pick_itd."""
    n_frames, n_lags = corr.shape
    k = np.argmax(score, axis=1)
    rows = np.arange(n_frames)
    peak = score[rows, k]
    inner = (k > 0) & (k < n_lags - 1)
    y0 = corr[rows, k]
    ym = corr[rows, np.clip(k - 1, 0, n_lags - 1)]
    yp = corr[rows, np.clip(k + 1, 0, n_lags - 1)]
    denom = ym - 2.0 * y0 + yp
    ok = inner & (denom < 0)
    delta = np.where(ok, 0.5 * (ym - yp) / np.where(ok, denom, -1.0), 0.0)
    lag = (k - max_lag) + np.clip(delta, -0.5, 0.5)
    if n_lags > 2 * lobe + 1:
        offsets = np.arange(n_lags)[None, :] - k[:, None]
        second = np.where(np.abs(offsets) > lobe, score, -np.inf).max(axis=1)
        second = np.where(np.isfinite(second), second, 0.0)
    else:
        second = np.zeros_like(peak)
    return lag, peak, second


def main_lobe_lags(
    lag_sr: float, *, sr: int, band_hz: tuple[float, float] = (100.0, 12_000.0)
) -> int:
    """Half-width in lags of the GCC main lobe: one period of the highest frequency used."""
    return max(2, int(np.ceil(lag_sr / min(band_hz[1], 0.48 * sr))))


def gcc_confidence(peak: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Reliability of a GCC-PHAT estimate in [0, 1] from peak height and ambiguity.

    A high, unique peak is reliable; a low peak (noise, diffuse reverberation) or a rival peak
    of similar height (spatial aliasing of a spaced pair, periodic sounds) is not.
    """
    # With ~1000 bins averaged over a few frames, unrelated channels give peaks below ~0.04;
    # a peak of 0.25 is already an unmistakable direct path.
    peak = np.clip(peak, 0.0, 1.0)
    height = np.clip((peak - 0.04) / 0.21, 0.0, 1.0)
    unique = np.clip(2.0 * (peak - np.maximum(second, 0.0)) / np.maximum(peak, 1e-6), 0.0, 1.0)
    return (height * unique).astype(np.float32)


def level_differences(
    band_left: np.ndarray, band_right: np.ndarray, *, floor_power: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-band and broadband ILD with a consistency-based confidence.

    Parameters
    ----------
    band_left, band_right : np.ndarray [shape=(frames, bands)]
        Mean-square power per band of the left and right channel.
    floor_power : float
        Power per band treated as noise; bands near it carry little weight.

    Returns
    -------
    ild_bands_db : np.ndarray [shape=(frames, bands)]
        ``10 log10(left / right)`` per band; positive = left louder.
    ild_db : np.ndarray [shape=(frames,)]
        Broadband ILD (ratio of the band-summed powers).
    ild_weighted_db : np.ndarray [shape=(frames,)]
        Mean of the band ILDs weighted by the square root of band power, so that high bands
        (where a head shadows most) count even when low frequencies carry the energy.
    consistency : np.ndarray [shape=(frames,)]
        Agreement of the bands, in [0, 1]; 1 when all bands show the same ILD.
    """
    eps = max(float(floor_power), 1e-14)
    ild_bands = 10.0 * np.log10((band_left + eps) / (band_right + eps))
    total_l = band_left.sum(axis=1)
    total_r = band_right.sum(axis=1)
    ild = 10.0 * np.log10((total_l + eps) / (total_r + eps))
    w = np.sqrt(np.maximum(band_left + band_right - 2 * eps, 0.0))
    wsum = w.sum(axis=1)
    safe = np.maximum(wsum, 1e-30)
    mean = (w * ild_bands).sum(axis=1) / safe
    var = (w * (ild_bands - mean[:, None]) ** 2).sum(axis=1) / safe
    consistency = 1.0 / (1.0 + var / 36.0)
    mean = np.where(wsum > 0, mean, 0.0)
    return (
        ild_bands.astype(np.float32),
        ild.astype(np.float32),
        mean.astype(np.float32),
        consistency.astype(np.float32),
    )


def precedence_weight(frame_power: np.ndarray, *, floor: float = 0.2) -> np.ndarray:
    """Weight frames by how much new sound they bring (the precedence effect).

    In a room, the direct sound arrives first and the reverberant tail follows from all
    directions, pulling both ITD and ILD towards zero. Like a listener, trust the frames where
    energy rises (onsets: direct sound dominates) more than frames where it holds or decays.
    Steady sounds keep the weight ``floor`` everywhere, so their relative weighting is unchanged.

    Parameters
    ----------
    frame_power : np.ndarray [shape=(frames,)]
        Broadband power per frame.
    floor : float
        Weight of frames without rising energy.

    Returns
    -------
    np.ndarray [shape=(frames,)]
        Weights in [floor, 1].
    """
    p = np.maximum(frame_power.astype(np.float64), 1e-30)
    prev = np.concatenate([p[:1], p[:-1]])
    rise_db = 10.0 * np.log10(p / prev)
    return np.clip(floor + (1.0 - floor) * rise_db / 3.0, floor, 1.0).astype(np.float32)


def weighted_smooth(values: np.ndarray, weights: np.ndarray, width: int) -> np.ndarray:
    """Moving average of ``values`` weighted by ``weights`` over ``width`` frames (centred)."""
    if width <= 1:
        return values.astype(np.float32)
    num = uniform_filter1d((values * weights).astype(np.float64), width)
    den = uniform_filter1d(weights.astype(np.float64), width)
    out = np.where(den > 1e-9, num / np.maximum(den, 1e-12), values)
    return out.astype(np.float32)


def fuse_azimuth(
    itd_ms: np.ndarray,
    itd_conf: np.ndarray,
    ild_db: np.ndarray,
    ild_conf: np.ndarray,
    *,
    hop_s: float,
    itd_ref_ms: float = ITD_REF_MS,
    ild_ref_db: float = ILD_REF_DB,
    smooth_s: float = 0.1,
    hold_s: float = 0.5,
    context_s: float = 30.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse time and level differences into one azimuth per frame.

    Parameters
    ----------
    itd_ms, itd_conf : np.ndarray [shape=(frames,)]
        Time difference in ms (positive = left leads) and its confidence in [0, 1].
    ild_db, ild_conf : np.ndarray [shape=(frames,)]
        Level difference in dB (positive = left louder) and its confidence in [0, 1].
    hop_s : float
        Frame hop in seconds.
    itd_ref_ms : float
        ITD taken to mean 90°; the ITD maps to ``asin(itd / itd_ref)`` (clipped).
    ild_ref_db : float
        Scale of the ILD mapping ``tanh(ild / ild_ref)``.
    smooth_s : float
        Width of the confidence-weighted smoothing of each cue.
    hold_s : float
        Width of the smoothing of the fused value weighted by squared confidence, which lets
        weak frames take the value of confident neighbours.
    context_s : float
        Window over which each cue's informativeness is judged.

    Returns
    -------
    azimuth_deg : np.ndarray [shape=(frames,)]
        −90° (right) … +90° (left).
    confidence : np.ndarray [shape=(frames,)]
        Confidence of the fused estimate in [0, 1].
    itd_share : np.ndarray [shape=(frames,)]
        Share of the ITD in the fused value (1 = time difference only, 0 = level only).

    Notes
    -----
    Front and back are not distinguished: a source behind is reported at its mirrored
    azimuth in front, which is what a camera facing forward would show.
    """
    width = max(1, int(round(smooth_s / hop_s)))
    x_itd = np.clip(weighted_smooth(itd_ms, itd_conf, width) / itd_ref_ms, -1.0, 1.0)
    x_ild = np.tanh(weighted_smooth(ild_db, ild_conf, width) / ild_ref_db)
    ctx = max(1, int(round(context_s / hop_s)))
    ctx = min(ctx, 2 * itd_ms.size + 1)

    def informativeness(x: np.ndarray, c: np.ndarray) -> np.ndarray:
        num = uniform_filter1d((np.abs(x) * c).astype(np.float64), ctx)
        den = uniform_filter1d(c.astype(np.float64), ctx)
        return num / np.maximum(den, 1e-9) + 0.02

    # relative informativeness, sharpened: a cue that stays at a quarter of the other's
    # lateralisation is almost ignored (1/256), equal cues share the weight
    m_itd = informativeness(x_itd, itd_conf)
    m_ild = informativeness(x_ild, ild_conf)
    top = np.maximum(m_itd, m_ild)
    g_itd = (m_itd / top) ** 4
    g_ild = (m_ild / top) ** 4
    w_itd = itd_conf * g_itd + 1e-9
    w_ild = ild_conf * g_ild + 1e-9
    x = (w_itd * x_itd + w_ild * x_ild) / (w_itd + w_ild)
    # a cue the recording does not carry lends no confidence, however steady it is
    conf = (g_itd * itd_conf + g_ild * ild_conf) / (g_itd + g_ild)
    # Frames with little evidence (reverberant tails after an onset, pauses) lean on the
    # confident frames around them; confident frames are barely moved. Then a smoother that
    # weighs each frame by its confidence relative to its neighbourhood holds the direction
    # an onset gave through the reverberant stretch that follows.
    hold = max(1, int(round(hold_s / hop_s)))
    x = weighted_smooth(x, conf.astype(np.float64) ** 2 + 1e-9, hold)
    x = anchor_smooth(x, conf, hop_s=hop_s)
    azimuth = np.degrees(np.arcsin(np.clip(x, -1.0, 1.0)))
    share = w_itd / (w_itd + w_ild)
    return azimuth.astype(np.float32), conf.astype(np.float32), share.astype(np.float32)


def anchor_smooth(
    x: np.ndarray,
    conf: np.ndarray,
    *,
    hop_s: float,
    max_speed: float = 1.5,
    noise: float = 0.15,
    local_s: float = 2.0,
) -> np.ndarray:
    """Forward-backward (Rauch–Tung–Striebel) smoothing of the lateralisation.

    A frame's evidence counts by its confidence *relative to the best nearby* (within
    ``local_s``): where an onset gave a clear direct sound and the rest is a steady tone
    smeared by the room, the estimate stays where the onset put it (the precedence effect, as
    in the Franssen illusion), while a source heard equally well throughout is followed
    closely. ``max_speed`` (lateralisation units per second; a pass-by sweeps about 2)
    bounds how fast the estimate may move.
    """
    n = x.size
    if n < 2:
        return x.astype(np.float32)
    width = max(1, int(round(local_s / hop_s)))
    local_top = maximum_filter1d(conf.astype(np.float64), width)
    rel = conf / np.maximum(local_top, 1e-9)
    q = (max_speed * hop_s) ** 2
    r = noise**2 / np.maximum(rel, 1e-3) ** 2
    xf = np.empty(n)
    pf = np.empty(n)
    xp = np.empty(n)
    pp = np.empty(n)
    state, var = float(x[0]), float(r[0])
    for t in range(n):  # Kalman filter (forward)
        xp[t], pp[t] = state, var + (q if t else 0.0)
        gain = pp[t] / (pp[t] + r[t])
        state = xp[t] + gain * (x[t] - xp[t])
        var = (1.0 - gain) * pp[t]
        xf[t], pf[t] = state, var
    out = xf.copy()
    for t in range(n - 2, -1, -1):  # RTS smoother (backward)
        c = pf[t] / pp[t + 1]
        out[t] = xf[t] + c * (out[t + 1] - xp[t + 1])
    return out.astype(np.float32)


#: The rules that name where a sound is and how it moves, written once for the cues, the
#: synthetic scenes' ground truth and the evaluation. Horizontal travel that stays under
#: :data:`MOTION_THRESHOLD_DEG` is "static"; a loudness or size that does not change enough is
#: "steady" (a depth trend, the other axis).
#:
#: An azimuth beyond ±15° is on a side (left is positive).
SIDE_THRESHOLD_DEG = 15.0
#: A change of azimuth over 20° between the start and the end is a crossing.
MOTION_THRESHOLD_DEG = 20.0
#: A source whose distance ends under 0.7x (over 1.4x) its start approaches (recedes).
APPROACH_RATIO, RECEDE_RATIO = 0.7, 1.4


def side_of(azimuth_deg: float, *, threshold_deg: float = SIDE_THRESHOLD_DEG) -> str:
    """``"left"``, ``"right"`` or ``"centre"`` for an azimuth (positive = left)."""
    if azimuth_deg > threshold_deg:
        return "left"
    if azimuth_deg < -threshold_deg:
        return "right"
    return "centre"


def motion_of(start_deg: float, end_deg: float) -> Literal["left_to_right", "right_to_left",
                                                           "static"]:  # fmt: skip
    """The horizontal travel between two azimuths (positive = left): a fall of more than
    :data:`MOTION_THRESHOLD_DEG` is left-to-right, a rise right-to-left, else static."""
    if end_deg - start_deg < -MOTION_THRESHOLD_DEG:
        return "left_to_right"
    if end_deg - start_deg > MOTION_THRESHOLD_DEG:
        return "right_to_left"
    return "static"


def depth_trend(start_m: float, end_m: float) -> Literal["approaching", "receding", "steady"]:
    """Whether a source's distance shrinks (approaching), grows (receding) or neither."""
    if end_m < APPROACH_RATIO * start_m:
        return "approaching"
    if end_m > RECEDE_RATIO * start_m:
        return "receding"
    return "steady"

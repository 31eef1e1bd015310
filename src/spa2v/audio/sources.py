"""How many sources sound, and where each one goes: multi-source tracking.

Each analysis frame gets a *spatial spectrum*: how much of its sound comes from each direction
on a 5° azimuth grid. There are two views; the cue sheet uses the one that matches the cue the
recording carries (the fused-azimuth ``itd_share``):

* **time view** — the geometric mean of the frame's GCC-PHAT correlation and a DUET-style
  histogram of the time difference of every bin from 100 Hz to 3 kHz, both mapped to azimuth.
  A bin's phase gives its delay only up to whole periods, so each bin spreads its vote over
  every candidate delay within ±max_delay: the true delay collects votes from all bins of a
  source, the wrap candidates land in different places per bin. Votes are weighted by the
  squared magnitude of the cross-spectrum averaged over 0.1 s — power × coherence, so a bin
  counts as much as its source is loud there and its phase holds still (direct sound). The
  correlation, by contrast, weighs all bins alike (PHAT): a broadband source hides a tonal one
  in it, while the votes have no side lobes. A direction counts where both agree.
* **level view** — a DUET-style histogram (Jourjine, Rickard & Yilmaz 2000) of the level
  difference of every time-frequency bin (in groups of three adjacent bins, so that a tone
  counts in full wherever it falls), mapped to azimuth and weighted by power ** 0.75. Sounds
  rarely overlap in the same bin, so each source forms its own mode; this is the only view that
  works for coincident pairs and panned mixes.

Spectra are pooled over 0.5 s blocks (hop 0.25 s) weighted towards direct sound, peaks are
picked per block, and peaks are linked over time into tracks (nearest azimuth, gated, gaps
bridged so an intermittent source keeps its track). Weak or short tracks are dropped, and
tracks that never sound together and meet where one ends and the other begins are merged, so
one source does not split in two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from spa2v.audio.filters import uniform_filter1d

#: Adjacent FFT bins pooled per level-difference vote (one window main lobe).
LEVEL_GROUP_BINS = 3
#: Exponent of the power weighting of the level-difference votes (DUET's p).
LEVEL_POWER_EXP = 0.75
#: Highest frequency of the per-bin delay votes, Hz.
DELAY_HIST_MAX_HZ = 3000.0

#: A track's source counts as heard in a block where its peak reaches this fraction of the
#: track's median peak; weaker blocks (a side lobe linked in before the source sounds, a
#: fade-in under the other sources) are not measurements of it.
HEARD_REL_HEIGHT = 0.4
#: ... and, with several sources, in a frame where its direction holds this share of the
#: directional energy.
HEARD_MIN_SHARE = 0.2

#: Azimuth grid of the spatial spectra, degrees (+ = left).
AZ_GRID = np.linspace(-90.0, 90.0, 37)
_AZ_STEP = float(AZ_GRID[1] - AZ_GRID[0])


def level_histogram_edges(ild_ref_db: float) -> np.ndarray:
    """Power ratios (left / right) at the edges between grid azimuths.

    The level view maps a bin's level difference to azimuth with the same law as the fused
    azimuth, ``az = asin(tanh(ild / ild_ref))``; comparing power ratios against these edges
    avoids a logarithm per bin.
    """
    mids = np.radians((AZ_GRID[:-1] + AZ_GRID[1:]) / 2)
    ild = ild_ref_db * np.arctanh(np.clip(np.sin(mids), -0.999999, 0.999999))
    return (10.0 ** (ild / 10.0)).astype(np.float32)


def level_histograms(
    power_left: np.ndarray, power_right: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Power-weighted histogram of per-bin azimuth, one row per frame.

    Parameters
    ----------
    power_left, power_right : np.ndarray [shape=(frames, bins)]
        Power of the bins that take part, adjacent bins; the number of bins must be a multiple
        of :data:`LEVEL_GROUP_BINS`. Each group of that many bins casts one vote, so a steady
        tone whose window main lobe straddles bins is counted in full.
    edges : np.ndarray
        From :func:`level_histogram_edges`.

    Returns
    -------
    np.ndarray [shape=(frames, len(AZ_GRID)), float32]
        Rows sum to 1 (or 0 for a silent frame).
    """
    n_frames, n_bins = power_left.shape
    if n_bins % LEVEL_GROUP_BINS:
        raise ValueError(f"{n_bins} bins is not a multiple of {LEVEL_GROUP_BINS}")
    shape = (n_frames, n_bins // LEVEL_GROUP_BINS, LEVEL_GROUP_BINS)
    power_left = power_left.reshape(shape).sum(axis=2)
    power_right = power_right.reshape(shape).sum(axis=2)
    n_az = AZ_GRID.size
    ratio = (power_left + 1e-20) / (power_right + 1e-20)
    idx = np.searchsorted(edges, ratio)
    # DUET's weighting exponent (votes ~ power ** p): with p = 1 the loudest bins decide and a
    # tone's few strong partials bury a broadband source spread over many weaker bins; with
    # p = 0.75 both stand out while diffuse, weak bins still count little
    weight = power_left + power_right
    if LEVEL_POWER_EXP == 0.75:  # the default: two square roots are 8x cheaper than a power
        weight = np.sqrt(weight * np.sqrt(weight))
    else:
        weight = weight ** np.float32(LEVEL_POWER_EXP)
    flat = (np.arange(n_frames)[:, None] * n_az + idx).ravel()
    hist = np.bincount(flat, weights=weight.ravel(), minlength=n_frames * n_az)
    hist = hist.reshape(n_frames, n_az)
    total = hist.sum(axis=1, keepdims=True)
    return (hist / np.maximum(total, 1e-30)).astype(np.float32)


#: Frames whose votes are gathered at once (bounds the (frames, bins, lags) temporary).
_VOTE_FRAMES = 64
#: Lag grid of the delay votes: 41 lags over ±1 ms (0.05 ms apart).
ITD_HIST_STEPS_PER_S = 20_000.0


class DelayVoter:
    """Histogram of per-bin time differences from the phase (DUET delay axis, wraps resolved).

    A bin whose phase can wrap within ±max_delay (above ``1 / (2 max_delay)``) spreads its
    vote evenly over every delay ``(phase + 2πk) / (2πf)`` in range: the true delay collects
    votes from all bins of a source, the wrap candidates of different bins fall apart. Each
    bin's comb of candidates is tabulated once for ``phase_levels`` phase values, so a frame
    costs one weighted sum of table rows (bins × lags) rather than a loop over candidates.

    Parameters
    ----------
    freqs_hz : np.ndarray [shape=(bins,)]
        Frequencies of the bins that vote (> 0).
    max_delay_s : float
        Range of the histogram.
    phase_levels : int
        Phase resolution of the table (64: under 5 µs of delay at 3 kHz).
    """

    def __init__(self, freqs_hz: np.ndarray, *, max_delay_s: float, phase_levels: int = 64):
        self.phase_levels = phase_levels
        self.n_bins = int(np.size(freqs_hz))
        f = np.asarray(freqs_hz, dtype=np.float64)
        self.table = _delay_table(f.tobytes(), float(max_delay_s), phase_levels)

    def __call__(self, cross: np.ndarray) -> np.ndarray:
        """Votes of each frame.

        Parameters
        ----------
        cross : np.ndarray [shape=(frames, bins), complex]
            Cross-spectra averaged over a few frames (as for the ITD); phase = left-lead delay.

        Returns
        -------
        np.ndarray [shape=(frames, 2 * m + 1)]
            Votes on lags ``-m … +m`` spaced ``1 / ITD_HIST_STEPS_PER_S`` s, ``m`` lags to
            ``max_delay_s`` (+ = left leads),
            weighted by the squared magnitude of the averaged cross-spectrum (bins whose
            phase stays put from frame to frame — direct sound — count, reverberant ones
            hardly do); rows sum to 1.
        """
        n_frames = cross.shape[0]
        levels = self.phase_levels
        q = np.floor((np.angle(cross) / (2 * np.pi) + 0.5) * levels).astype(np.int64)
        col = np.clip(q, 0, levels - 1) + levels * np.arange(self.n_bins)
        weight = (cross.real**2 + cross.imag**2).astype(np.float32)
        # each frame's votes: its bins' table rows (one per bin) weighted and summed
        hist = np.empty((n_frames, self.table.shape[1]), np.float32)
        for lo in range(0, n_frames, _VOTE_FRAMES):
            hi = min(n_frames, lo + _VOTE_FRAMES)
            hist[lo:hi] = np.einsum("fb,fbl->fl", weight[lo:hi], self.table[col[lo:hi]])
        total = hist.sum(axis=1, keepdims=True)
        return (hist / np.maximum(total, 1e-30)).astype(np.float32)


@lru_cache(maxsize=8)
def _delay_table(freqs_bytes: bytes, max_delay_s: float, phase_levels: int) -> np.ndarray:
    """Comb of candidate delays per (bin, phase level), linearly shared between lags."""
    f = np.frombuffer(freqs_bytes, dtype=np.float64)
    m = int(round(max_delay_s * ITD_HIST_STEPS_PER_S))
    n_lags = 2 * m + 1
    cycles = (np.arange(phase_levels) + 0.5) / phase_levels - 0.5
    k_max = int(np.ceil(max_delay_s * float(f.max()))) + 1
    ks = np.arange(-k_max, k_max + 1)
    # candidate positions on the lag axis: (bins, levels, candidates)
    pos = (cycles[None, :, None] + ks) * (ITD_HIST_STEPS_PER_S / f[:, None, None]) + m
    valid = (pos >= 0) & (pos <= n_lags - 1)
    count = np.maximum(valid.sum(axis=2, keepdims=True), 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_lags - 2)
    rows = f.size * phase_levels
    flat = (np.arange(rows).reshape(f.size, phase_levels, 1) * n_lags + lo)[valid]
    w = np.broadcast_to(1.0 / count, pos.shape)[valid]
    frac = (pos - lo)[valid]
    size = rows * n_lags
    table = np.bincount(flat, w * (1 - frac), size) + np.bincount(flat + 1, w * frac, size)
    table = table.reshape(rows, n_lags).astype(np.float32)
    table.flags.writeable = False
    return table


def time_spectrum(
    corr: np.ndarray, lag_sr: float, *, itd_ref_ms: float, subtract_floor: bool = True
) -> np.ndarray:
    """Resample correlations or delay votes (frames × lags) onto the azimuth grid.

    Each grid azimuth reads the lag axis at ``itd_ref * sin(az)`` (linear interpolation), so
    the density is sampled rather than pushed: near ±90°, where many azimuths share almost one
    lag, no comb of empty and crowded bins appears. Rows are normalised to sum to 1.
    """
    n_lags = corr.shape[1]
    max_lag = (n_lags - 1) // 2
    lag_of_az = np.sin(np.radians(AZ_GRID)) * itd_ref_ms / 1000.0 * lag_sr + max_lag
    pos = np.clip(lag_of_az, 0, n_lags - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, n_lags - 2)
    frac = (pos - lo).astype(np.float32)
    sampling = np.zeros((n_lags, AZ_GRID.size), dtype=np.float32)
    sampling[lo, np.arange(AZ_GRID.size)] += 1.0 - frac
    sampling[lo + 1, np.arange(AZ_GRID.size)] += frac
    # only what stands above the frame's correlation floor points at a source
    floor = np.median(corr, axis=1, keepdims=True) if subtract_floor else 0.0
    above = np.maximum(corr - np.maximum(floor, 0.0), 0.0)
    spec = above @ sampling
    # a source more lateral than the law allows (a head's low-frequency time difference is
    # larger than its high-frequency one; a spaced pair wider than the fitted law) reads at
    # ±90° instead of falling off the grid: the edge gets the mean beyond the law's range
    first, last = int(np.ceil(pos[0])), int(np.floor(pos[-1]))
    if first > 0:
        spec[:, 0] = np.maximum(spec[:, 0], above[:, :first].mean(axis=1))
    if last < n_lags - 1:
        spec[:, -1] = np.maximum(spec[:, -1], above[:, last + 1 :].mean(axis=1))
    total = spec.sum(axis=1, keepdims=True)
    return (spec / np.maximum(total, 1e-30)).astype(np.float32)


@dataclass
class _Track:
    blocks: list[int] = field(default_factory=list)
    azimuths: list[float] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    #: placed at a strongest remaining direction because a known count asked for it, not
    #: found as a peak of its own
    filled: bool = False

    @property
    def support(self) -> float:
        return float(sum(self.heights))


@dataclass(frozen=True)
class TrackResult:
    """Tracks on the frame axis.

    Attributes
    ----------
    azimuth_deg : np.ndarray [shape=(sources, frames)]
        Azimuth of each source over time (held outside its active span).
    share : np.ndarray [shape=(sources, frames)]
        Fraction of the frame's directional energy that comes from each source.
    heard : np.ndarray [shape=(sources, frames)] or None
        Where each source was measured: frames inside a pooling block in which its track
        holds a peak of its own. None where not known (every frame counts).
    localised : np.ndarray [shape=(sources,)] or None
        False for a source placed only because a known count asked for one more than the
        recording shows (a static direction, not a peak of its own).
    """

    azimuth_deg: np.ndarray
    share: np.ndarray
    heard: np.ndarray | None = None
    localised: np.ndarray | None = None


def _block_profiles(
    spectrum: np.ndarray, weight: np.ndarray, block: int, hop: int, floor_percentile: float = 40.0
) -> np.ndarray:
    n = spectrum.shape[0]
    starts = np.arange(0, max(1, n - block + hop), hop)
    num = uniform_filter1d(spectrum * weight[:, None], block, axis=0)
    den = uniform_filter1d(weight, block)
    centres = np.clip(starts + block // 2, 0, n - 1)
    prof = num[centres] / np.maximum(den[centres], 1e-12)[:, None]
    # light smoothing across azimuth so a source between grid points forms one peak
    pad = np.pad(prof, ((0, 0), (1, 1)), mode="edge")
    prof = 0.25 * pad[:, :-2] + 0.5 * pad[:, 1:-1] + 0.25 * pad[:, 2:]
    # diffuse sound (reverberation, noise) votes for every direction: remove that floor so
    # only directional energy can form peaks
    floor = np.percentile(prof, floor_percentile, axis=1, keepdims=True)
    return np.maximum(prof - floor, 0.0)


def _peaks(
    profile: np.ndarray, *, rel_height: float, min_sep_deg: float
) -> list[tuple[float, float]]:
    """Peaks ``(azimuth, height)`` of one block profile, strongest first."""
    p = profile
    top = float(p.max())
    if top <= 0.5 / p.size:  # flat: nothing stands out
        return []
    is_max = np.zeros(p.size, dtype=bool)
    is_max[1:-1] = (p[1:-1] >= p[:-2]) & (p[1:-1] > p[2:])
    is_max[0] = p[0] > p[1]
    is_max[-1] = p[-1] > p[-2]
    cand = [i for i in np.flatnonzero(is_max) if p[i] >= rel_height * top]
    cand.sort(key=lambda i: -p[i])
    chosen: list[int] = []
    for i in cand:
        if all(abs(AZ_GRID[i] - AZ_GRID[j]) >= min_sep_deg for j in chosen):
            # a real second source needs a dip between it and the stronger one
            ok = True
            for j in chosen:
                a, b = sorted((i, j))
                if p[a : b + 1].min() > 0.7 * p[i]:
                    ok = False
            if ok:
                chosen.append(i)
    out = []
    for i in chosen:
        # parabolic refinement of the peak position
        if 0 < i < p.size - 1:
            den = p[i - 1] - 2 * p[i] + p[i + 1]
            delta = 0.5 * (p[i - 1] - p[i + 1]) / den if den < 0 else 0.0
        else:
            delta = 0.0
        out.append((float(AZ_GRID[i] + np.clip(delta, -0.5, 0.5) * _AZ_STEP), float(p[i])))
    return out


def track_sources(
    spectrum: np.ndarray,
    weight: np.ndarray,
    *,
    hop_s: float,
    max_sources: int = 3,
    block_s: float = 0.5,
    block_hop_s: float = 0.25,
    rel_height: float = 0.25,
    min_sep_deg: float = 50.0,
    gate_deg: float = 45.0,
    max_gap_s: float = 3.0,
    min_support: float = 0.05,
    min_overlap: float = 0.3,
    floor_percentile: float = 40.0,
    n_sources: int | None = None,
) -> TrackResult:
    """Find and follow up to ``max_sources`` sources in a spatial spectrogram.

    Parameters
    ----------
    spectrum : np.ndarray [shape=(frames, len(AZ_GRID))]
        Per-frame spatial spectrum (rows sum to 1).
    weight : np.ndarray [shape=(frames,)]
        How much each frame counts (activity × direct-sound weight).
    hop_s : float
        Frame hop in seconds.
    max_sources : int
        Most sources reported.
    block_s, block_hop_s : float
        Pooling window and its hop.
    rel_height : float
        A peak must reach this fraction of the block's highest.
    min_sep_deg : float
        Closer peaks are one source.
    gate_deg : float
        Largest azimuth jump between consecutive blocks of one track.
    max_gap_s : float
        Longest silence a track bridges.
    min_support : float
        A track needs this fraction of the strongest track's support.
    min_overlap : float
        Fraction of the active blocks that must show ``m`` separate peaks, and that each of
        ``m`` tracks must last, for ``m`` sources to be reported.
    floor_percentile : float
        Percentile of each block profile removed as the diffuse floor.
    n_sources : int or None
        How many sources there are, when the user knows (one per label): exactly that many
        tracks are returned, the weakest peaks (down to a fifth of ``rel_height``) admitted
        and, where the recording shows fewer separate directions, the strongest remaining
        directions of the whole recording added as static tracks. None counts them.

    Returns
    -------
    TrackResult
        Sources ordered from left to right by mean azimuth. At least one source is returned
        for any non-silent input.
    """
    if n_sources is not None:
        if not 1 <= n_sources <= 3:
            raise ValueError(f"n_sources must be 1-3, got {n_sources}")
        max_sources = n_sources
        rel_height = rel_height / 5.0
    n = spectrum.shape[0]
    block = max(1, int(round(block_s / hop_s)))
    hop = max(1, int(round(block_hop_s / hop_s)))
    profiles = _block_profiles(
        spectrum, weight.astype(np.float32), block, hop, floor_percentile=floor_percentile
    )
    block_weight = uniform_filter1d(weight.astype(np.float64), block)
    centres = np.clip(np.arange(profiles.shape[0]) * hop + block // 2, 0, n - 1)
    active = block_weight[centres] > 0.2 * max(float(block_weight.max()), 1e-12)
    max_gap = max(1, int(round(max_gap_s / block_hop_s)))

    tracks: list[_Track] = []
    counts = []
    for b in range(profiles.shape[0]):
        if not active[b]:
            continue
        peaks = _peaks(profiles[b], rel_height=rel_height, min_sep_deg=min_sep_deg)
        counts.append(min(len(peaks), max_sources))
        pairs = sorted(
            (abs(az - tr.azimuths[-1]), ti, pi)
            for ti, tr in enumerate(tracks)
            if b - tr.blocks[-1] <= max_gap
            for pi, (az, _) in enumerate(peaks)
        )
        used_t: set[int] = set()
        used_p: set[int] = set()
        for dist, ti, pi in pairs:
            if dist > gate_deg or ti in used_t or pi in used_p:
                continue
            used_t.add(ti)
            used_p.add(pi)
            tr = tracks[ti]
            tr.blocks.append(b)
            tr.azimuths.append(peaks[pi][0])
            tr.heights.append(peaks[pi][1])
        for pi, (az, h) in enumerate(peaks):
            if pi not in used_p:
                tracks.append(_Track([b], [az], [h]))

    if not tracks and (n_sources or 1) > 1:  # directionless, but the user knows better
        tracks = _fill_tracks([], profiles, active, n_sources or 1, min_sep_deg)
    if not tracks:  # silent or directionless: one source straight ahead
        return TrackResult(np.zeros((1, n), np.float32), np.ones((1, n), np.float32))

    # How many sound at once: m sources need m separate peaks in a good part of the blocks.
    # A single source moving fast smears into two peaks only briefly, while it crosses.
    count_arr = np.array(counts)
    known = n_sources is not None
    if n_sources is None:
        n_sources = 1
        for m in range(2, max_sources + 1):
            if np.mean(count_arr >= m) >= min_overlap:
                n_sources = m
    n_active = max(1, int(active.sum()))
    if n_sources > 1:
        tracks = _merge(tracks, gate_deg=gate_deg, deg_per_block=100.0 * block_hop_s)
        best = max(t.support for t in tracks)
        keep = [
            t for t in tracks
            if t.support >= min_support * best and len(t.blocks) >= max(2, 0.15 * n_active)
        ]  # fmt: skip
        if not known:
            # ... and those peaks must form as many tracks that each last through that part:
            # scattered second peaks (reverberation, side lobes) at ever new places do not
            lasting = sum(len(t.blocks) >= min_overlap * n_active for t in keep)
            n_sources = max(1, min(n_sources, lasting))
        tracks = sorted(keep or tracks, key=lambda t: -t.support)[:n_sources]
        if known and len(tracks) < n_sources:
            tracks += _fill_tracks(tracks, profiles, active, n_sources, min_sep_deg)
    if n_sources == 1:
        strongest = _Track()
        for b in range(profiles.shape[0]):
            if active[b]:
                i = int(np.argmax(profiles[b]))
                strongest.blocks.append(b)
                strongest.azimuths.append(float(AZ_GRID[i]))
                strongest.heights.append(float(profiles[b, i]))
        tracks = [strongest]
    tracks.sort(key=lambda t: -float(np.mean(t.azimuths)))  # left to right

    frame_blocks = (np.arange(n) - block // 2) / hop
    heard = np.zeros((len(tracks), n), dtype=bool)
    several = sum(not t.filled for t in tracks) > 1  # sources found, not placed for a count
    rows = []
    for k, t in enumerate(tracks):
        h = np.asarray(t.heights)
        strong = h >= 0
        if several and h.size > 1:  # one source alone is heard wherever it is active
            strong = h >= HEARD_REL_HEIGHT * float(np.median(h))
        blocks = np.asarray(t.blocks)[strong]
        # the azimuth follows the blocks where the source was measured, held outside them
        rows.append(np.interp(frame_blocks, blocks, np.asarray(t.azimuths)[strong]))
        for b in blocks:  # the block's central stretch, where its pooled peak is measured
            c = b * hop + block // 2
            heard[k, max(0, c - hop // 2) : c + (hop + 1) // 2] = not t.filled
    az = np.stack(rows)
    share = _shares(spectrum, az)
    if several:  # and frames where the source holds a fair share of its own
        heard &= share >= HEARD_MIN_SHARE
    localised = np.array([not t.filled for t in tracks])
    return TrackResult(az.astype(np.float32), share.astype(np.float32), heard, localised)


def _fill_tracks(
    tracks: list[_Track], profiles: np.ndarray, active: np.ndarray, n: int, min_sep_deg: float
) -> list[_Track]:
    """Static tracks at the strongest directions of the whole recording not yet taken."""
    pooled = profiles[active].mean(axis=0) if active.any() else profiles.mean(axis=0)
    taken = [float(np.mean(t.azimuths)) for t in tracks]
    blocks = [int(b) for b in np.flatnonzero(active)] or [0]
    out: list[_Track] = []
    # the widest spacing first, then closer: a known source must get a place of its own
    for sep in (min_sep_deg, min_sep_deg / 2, 10.0):
        for i in np.argsort(-pooled, kind="stable"):
            if len(taken) >= n:
                return out
            az = float(AZ_GRID[i])
            if all(abs(az - t) >= sep for t in taken):
                taken.append(az)
                out.append(_Track(blocks, [az] * len(blocks), [float(pooled[i])] * len(blocks),
                                  filled=True))  # fmt: skip
    return out


def _merge(tracks: list[_Track], *, gate_deg: float, deg_per_block: float) -> list[_Track]:
    """Join tracks that never overlap in time and look like one source (two pieces).

    They must not sound together, and either meet in direction (the allowed jump grows with
    the gap, ``deg_per_block``) or continue one motion: a fast pass-by smears out while it
    crosses the front and reappears further along on the other side.
    """
    tracks = sorted(tracks, key=lambda t: t.blocks[0])
    merged = True
    while merged:
        merged = False
        for i in range(len(tracks)):
            for j in range(len(tracks)):
                a, b = tracks[i], tracks[j]
                if i == j or a.blocks[-1] >= b.blocks[0]:
                    continue
                gap = b.blocks[0] - a.blocks[-1]
                jump = b.azimuths[0] - a.azimuths[-1]
                trend_a = a.azimuths[-1] - a.azimuths[0]
                trend_b = b.azimuths[-1] - b.azimuths[0]
                near = abs(jump) <= gate_deg + deg_per_block * gap
                # a moving source that lost its track while crossing carries on the same way
                continues = any(abs(tr) >= 20.0 and np.sign(tr) == np.sign(jump)
                                for tr in (trend_a, trend_b))  # fmt: skip
                if near or continues:
                    a.blocks += b.blocks
                    a.azimuths += b.azimuths
                    a.heights += b.heights
                    del tracks[j]
                    merged = True
                    break
            if merged:
                break
    return tracks


def _shares(spectrum: np.ndarray, az: np.ndarray, *, width_deg: float = 15.0) -> np.ndarray:
    """Energy share of each source per frame: spectrum mass near its azimuth."""
    grid = AZ_GRID.astype(np.float32)
    mass = np.empty(az.shape, dtype=np.float32)
    n = az.shape[1]
    for k in range(az.shape[0]):  # one source and one chunk at a time: small temporaries
        for start in range(0, n, 8192):
            sl = slice(start, start + 8192)
            z = (grid[None, :] - az[k, sl].astype(np.float32)[:, None]) / np.float32(width_deg)
            mass[k, sl] = np.einsum("fg,fg->f", spectrum[sl], np.exp(-0.5 * z * z))
    total = mass.sum(axis=0, keepdims=True)
    return mass / np.maximum(total, 1e-12)

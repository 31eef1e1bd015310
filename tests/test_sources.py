"""The spatial spectra behind multi-source tracking (spa2v.audio.sources)."""

from __future__ import annotations

import numpy as np
import pytest

from spa2v.audio.sources import (
    AZ_GRID,
    ITD_HIST_STEPS_PER_S,
    LEVEL_GROUP_BINS,
    LEVEL_POWER_EXP,
    DelayVoter,
    level_histogram_edges,
    level_histograms,
    time_spectrum,
    track_sources,
)

SR = 48_000
N_FFT = 3072


def _cross(delays_s: list[float], powers: list[np.ndarray], freqs: np.ndarray) -> np.ndarray:
    """Cross-spectrum of sources that own disjoint bins, with phase = left-lead delay."""
    out = np.zeros((1, freqs.size), dtype=np.complex64)
    for d, p in zip(delays_s, powers, strict=True):
        out[0] += p * np.exp(2j * np.pi * freqs * d)
    return out


@pytest.mark.parametrize("delay_ms", [-0.85, -0.3, 0.0, 0.45, 0.8])
def test_delay_votes_resolve_phase_wraps(delay_ms: float) -> None:
    # bins from 100 Hz to 3 kHz: above 500 Hz the phase wraps within ±1 ms
    freqs = np.arange(7, 197) * SR / N_FFT
    vote = DelayVoter(freqs, max_delay_s=0.001)
    hist = vote(_cross([delay_ms / 1000], [np.ones(freqs.size)], freqs))[0]
    lags_ms = (np.arange(hist.size) - hist.size // 2) / ITD_HIST_STEPS_PER_S * 1000
    assert hist.sum() == pytest.approx(1.0, abs=1e-5)
    assert lags_ms[np.argmax(hist)] == pytest.approx(delay_ms, abs=0.03)
    # the true delay stands well above every wrap candidate
    away = np.abs(lags_ms - delay_ms) > 0.1
    assert hist[away].max() < 0.35 * hist.max()


def test_delay_votes_are_power_weighted() -> None:
    """A quieter source keeps a share of the votes in proportion to its power."""
    freqs = np.arange(7, 197) * SR / N_FFT
    own = np.arange(freqs.size) % 2 == 0  # interleaved bins: each source owns half
    loud, quiet = own * 1.0, (~own) * 0.5  # magnitudes: 6 dB apart
    vote = DelayVoter(freqs, max_delay_s=0.001)
    hist = vote(_cross([0.0005, -0.0005], [loud, quiet], freqs))[0]
    lags_ms = (np.arange(hist.size) - hist.size // 2) / ITD_HIST_STEPS_PER_S * 1000
    left = hist[np.abs(lags_ms - 0.5) < 0.06].sum()
    right = hist[np.abs(lags_ms + 0.5) < 0.06].sum()
    assert left > right > 0.1 * left


def test_level_votes_count_a_tone_between_bins() -> None:
    """A tone whose main lobe straddles bins counts in full, not only where a bin is sampled."""
    edges = level_histogram_edges(7.5)
    n = 30 * LEVEL_GROUP_BINS
    noise = np.full((1, n), 0.01)
    tone = np.zeros((1, n))
    tone[0, 40:43] = [1.0, 0.25, 0.25]  # main lobe across two vote groups
    gain = 10 ** (-12 / 10)
    # the tone on the left (+12 dB), the noise on the right (-12 dB)
    left, right = noise * gain + tone, noise + tone * gain
    hist = level_histograms(left, right, edges)[0]
    assert hist.sum() == pytest.approx(1.0, abs=1e-5)
    # votes weigh power ** LEVEL_POWER_EXP per group; the two groups holding the tone vote left
    weight = (left + right).reshape(-1, LEVEL_GROUP_BINS).sum(axis=1) ** LEVEL_POWER_EXP
    expected = weight[13:15].sum() / weight.sum()
    assert hist[AZ_GRID > 30].sum() == pytest.approx(expected, rel=0.02)
    assert hist[AZ_GRID < -30].sum() == pytest.approx(1.0 - expected, rel=0.02)  # the noise


def test_level_votes_need_whole_groups() -> None:
    edges = level_histogram_edges(7.5)
    with pytest.raises(ValueError, match="multiple"):
        level_histograms(np.ones((1, LEVEL_GROUP_BINS + 1)), np.ones((1, LEVEL_GROUP_BINS + 1)),
                         edges)  # fmt: skip


def test_time_spectrum_keeps_a_source_beyond_the_law_at_the_edge() -> None:
    """A head's low-frequency ITD exceeds the law's range: it must read ±90°, not vanish."""
    lag_sr = 20_000.0
    lags_ms = (np.arange(41) - 20) / lag_sr * 1000
    corr = np.zeros((2, 41), dtype=np.float32)
    corr[0] = np.exp(-0.5 * ((lags_ms - 0.9) / 0.05) ** 2)  # left, beyond 0.66 ms
    corr[1] = np.exp(-0.5 * ((lags_ms + 0.3) / 0.05) ** 2)  # right, inside
    spec = time_spectrum(corr, lag_sr, itd_ref_ms=0.66, subtract_floor=False)
    assert AZ_GRID[np.argmax(spec[0])] == 90.0
    expected = np.degrees(np.arcsin(-0.3 / 0.66))
    assert AZ_GRID[np.argmax(spec[1])] == pytest.approx(expected, abs=5.0)
    assert spec[1, AZ_GRID > 0].sum() < 1e-3


def test_scattered_second_peaks_are_not_a_second_source() -> None:
    """Second peaks in half of the blocks, but at a new place each time (reverberation, side
    lobes): no second track lasts, so one source is reported. The same peaks held at one
    place are a second source."""
    hop = 0.02
    n = 200  # 4 s
    seg = np.arange(n) // 25  # 0.5 s segments

    def spectra(ghost_az: np.ndarray) -> np.ndarray:
        spec = np.exp(-0.5 * ((AZ_GRID[None, :] - 40.0) / 5.0) ** 2).repeat(n, axis=0)
        for i in range(n):
            if seg[i] % 2 == 0:  # every other half second
                spec[i] += 0.6 * np.exp(-0.5 * ((AZ_GRID - ghost_az[seg[i]]) / 5.0) ** 2)
        return (spec / spec.sum(axis=1, keepdims=True)).astype(np.float32)

    weight = np.ones(n, dtype=np.float32)
    scattered = np.array([-90.0, 0, -20.0, 0, -90.0, 0, -20.0, 0])
    held = np.full(8, -45.0)
    assert track_sources(spectra(scattered), weight, hop_s=hop).azimuth_deg.shape[0] == 1
    two = track_sources(spectra(held), weight, hop_s=hop).azimuth_deg
    assert two.shape[0] == 2 and np.median(two[1]) == pytest.approx(-45.0, abs=5.0)

"""Plots for people: the cue sheet at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spa2v.media.files import atomic_path

if TYPE_CHECKING:
    from spa2v.audio.cues import CueSheet

#: Longest series drawn per panel; longer ones are reduced to min/max envelopes.
_MAX_POINTS = 4000


def _decimate(t: np.ndarray, *series: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep plots of hour-long files light: every k-th frame (k chosen per plot)."""
    step = max(1, int(np.ceil(t.size / _MAX_POINTS)))
    return (t[::step], *(s[::step] for s in series))


#: File types a plot can be written as (Matplotlib's Agg and vector backends).
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp", ".eps", ".ps", ".tif", ".tiff")


def check_plot_path(path: str | Path) -> Path:
    """Raise :class:`ParameterError` unless ``path`` names a file type plots are written as."""
    from spa2v.errors import ParameterError

    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise ParameterError(
            f"{p}: cannot write a plot as {p.suffix or 'a file without a suffix'!r}; "
            f"use one of {', '.join(PLOT_SUFFIXES)}"
        )
    if p.is_dir():
        raise ParameterError(f"{p}: is a folder")
    return p


def plot_cues(cues: CueSheet, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the cue sheet as a five-panel figure and save it (PNG, SVG or PDF by suffix).

    Panels, top to bottom: loudness with onsets; ITD with confidence; ILD (broadband line over
    per-band image); fused azimuth coloured by confidence (left at the top, as a listener
    would point); pitch with the Doppler ratio.

    Parameters
    ----------
    cues : CueSheet
        The measured cues.
    path : str or Path
        Output file; written atomically.
    title : str or None
        Figure title; defaults to the source file name.

    Returns
    -------
    Path
    """
    check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    f = cues.frames
    t_all = f.time_s
    fig, axes = plt.subplots(5, 1, figsize=(11, 10.5), sharex=True, constrained_layout=True)
    fig.suptitle(title or (Path(cues.source).name if cues.source else "spa2v cues"))
    ax = axes[0]
    t, loud = _decimate(t_all, f.loudness_lufs)
    ax.plot(t, loud, color="#333333", lw=1.2, label="loudness (0.4 s)")
    lo = max(float(np.percentile(f.loudness_lufs, 1)) - 3, float(f.loudness_lufs.max()) - 60)
    ax.set_ylim(lo, float(f.loudness_lufs.max()) + 3)
    for onset in cues.onsets_s:
        ax.axvline(onset, color="#e4572e", lw=0.6, alpha=0.6)
    ax.set_ylabel("LUFS")
    ax.set_title(
        f"loudness: {cues.summary.loudness_trend} ({cues.summary.loudness_change_db:+.1f} dB "
        f"last vs first third); red lines = {len(cues.onsets_s)} onsets",
        fontsize=9,
        loc="left",
    )

    ax = axes[1]
    t, itd, conf = _decimate(t_all, f.itd_ms, f.itd_confidence)
    sc = ax.scatter(t, itd, c=conf, s=5, cmap="viridis", vmin=0, vmax=1)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_ylabel("ITD (ms)\n+ = left leads")
    lim = cues.params.max_delay_ms
    ax.set_ylim(-lim * 1.05, lim * 1.05)
    fig.colorbar(sc, ax=ax, label="confidence", pad=0.01)

    ax = axes[2]
    edges = np.asarray(cues.band_edges_hz)
    if cues.spatial and len(f):
        step = max(1, int(np.ceil(len(f) / _MAX_POINTS)))
        bands = f.ild_bands_db[::step].T
        vmax = max(3.0, float(np.percentile(np.abs(bands), 98)))
        ax2 = ax.twinx()
        ax2.imshow(
            bands,
            aspect="auto",
            origin="lower",
            cmap="RdBu_r",
            vmin=-vmax,
            vmax=vmax,
            extent=(float(t_all[0]), float(t_all[-1]), 0, bands.shape[0]),
            alpha=0.55,
        )
        centres = np.sqrt(edges[:-1] * edges[1:])
        ticks = np.linspace(0, bands.shape[0] - 1, 4).astype(int)
        ax2.set_yticks(ticks + 0.5, [f"{centres[i] / 1000:.1f}k" for i in ticks])
        ax2.set_ylabel("band (Hz)")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    t, ild = _decimate(t_all, f.ild_db)
    ax.plot(t, ild, color="#222222", lw=1.0)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_ylabel("ILD (dB)\n+ = left louder")

    ax = axes[3]
    t, az, conf, act = _decimate(t_all, f.azimuth_deg, f.azimuth_confidence, f.activity)
    sc = ax.scatter(t, az, c=conf * act, s=6, cmap="magma_r", vmin=0, vmax=1)
    for y in (-cues.params.side_threshold_deg, cues.params.side_threshold_deg):
        ax.axhline(y, color="#bbbbbb", lw=0.6, ls="--")
    ax.set_ylim(-95, 95)
    ax.set_yticks([-90, -45, 0, 45, 90], ["90° R", "45° R", "0°", "45° L", "90° L"])
    ax.set_ylabel("azimuth")
    s = cues.summary
    label = (
        "no left/right (mono)"
        if not cues.spatial
        else (f"{s.side}, {s.azimuth_start_deg:+.0f}° → {s.azimuth_end_deg:+.0f}° ({s.motion})")
    )
    ax.set_title(f"fused azimuth: {label}", fontsize=9, loc="left")
    fig.colorbar(sc, ax=ax, label="confidence", pad=0.01)

    ax = axes[4]
    voiced = f.f0_hz > 0
    if voiced.any():
        t, f0, ratio = _decimate(t_all[voiced], f.f0_hz[voiced], f.pitch_ratio[voiced])
        ax.scatter(t, f0, s=4, color="#1b998b", label="f0")
        ax.set_ylabel("f0 (Hz)")
        ax3 = ax.twinx()
        ax3.plot(t, 12 * np.log2(np.maximum(ratio, 1e-6)), color="#8e44ad", lw=0.8)
        ax3.set_ylabel("pitch change (st)", color="#8e44ad")
        ax.set_title(
            f"pitch: {s.pitch_change_st:+.2f} semitones last vs first third "
            "(falling through a loudness peak = pass-by)",
            fontsize=9,
            loc="left",
        )
    else:
        ax.text(0.5, 0.5, "no pitched sound", transform=ax.transAxes, ha="center", va="center")
        ax.set_ylabel("f0 (Hz)")
    ax.set_xlabel("time (s)")
    axes[0].set_xlim(0, max(cues.duration_s, 1e-3))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)

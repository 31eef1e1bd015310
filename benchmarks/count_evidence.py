"""Can the spatial spectrum see the weaker of two sources? Evidence for issue #17's counting.

Run: ``.venv/bin/python benchmarks/count_evidence.py [--scenes 24] [--workers 2]``

Renders the benchmark's own scenes (``spa2v bench make``'s recipes: two static sources on
opposite sides, 30-75°, 2-6 m, ±3 dB; and one static source) for every microphone model and
condition, and reads the per-frame spatial spectrum the tracker is given (the time view or the
level view, as the cue sheet picks). For each scene it reports, over the 0.5 s pooling blocks:

* **weaker source**: the median height of the profile within ±10° of the weaker source's true
  azimuth, relative to the block's highest peak, by the level difference between the two
  sources at the microphones (``level_db - 20 log10(distance)``);
* **ghost**: in one-source scenes of the same kinds (engine, noise, hum, speech), the median
  height of the highest peak more than 30° away from the true azimuth (what a second source
  must stand out from).

A blind count can only find the second source where its height clearly exceeds the ghosts'.
The spectrum is read by wrapping :func:`spa2v.audio.sources.track_sources`; nothing else
changes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from spa2v.audio import sources as _sources  # noqa: E402
from spa2v.audio.cues import compute_cues  # noqa: E402
from spa2v.audio.synth import render_scene  # noqa: E402
from spa2v.evaluation import bench  # noqa: E402

BLOCK_S, BLOCK_HOP_S = 0.5, 0.25
#: The kinds the two-source scenes are drawn from; one-source ghosts are compared on these.
STEADY = ("engine", "noise", "hum", "speech")


def _spectrum_of(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    seen: dict = {}
    original = _sources.track_sources

    def spy(spectrum, weight, **kw):
        seen.update(spectrum=spectrum.copy(), weight=weight.copy(), hop_s=kw["hop_s"])
        return original(spectrum, weight, **kw)

    _sources.track_sources = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = len(compute_cues(audio, sr=sr).sources)
    finally:
        _sources.track_sources = original
    return seen["spectrum"], seen["weight"], seen["hop_s"], found


def _heights(spectrum: np.ndarray, weight: np.ndarray, hop_s: float) -> np.ndarray:
    block = max(1, round(BLOCK_S / hop_s))
    profiles = _sources._block_profiles(spectrum, weight, block, max(1, round(BLOCK_HOP_S / hop_s)))
    return profiles / np.maximum(profiles.max(axis=1, keepdims=True), 1e-12)


def _one(job: tuple) -> dict:
    index, family, seed = job
    recipe = {**bench._recipe(index, seed), "family": family}
    sources = bench._sources(recipe)
    scene = render_scene(sources, duration_s=bench.DURATION_S, mic=recipe["mic"],
                         seed=recipe["seed"] % 100_000,
                         **bench.CONDITIONS[recipe["condition"]])  # fmt: skip
    spectrum, weight, hop_s, found = _spectrum_of(scene.audio, scene.sr)
    rel = _heights(spectrum, weight, hop_s)
    grid = _sources.AZ_GRID
    row = {"mic": recipe["mic"], "condition": recipe["condition"], "family": family,
           "right": found == len(sources)}  # fmt: skip
    if family == "two":
        at_mic = [s.level_db - 20 * np.log10(float(s.trajectory.distance_m(np.zeros(1))[0]))
                  for s in sources]  # fmt: skip
        weaker = int(np.argmin(at_mic))
        az = float(np.mean(scene.truth.sources[weaker].azimuth_deg))
        near = np.abs(grid - az) <= 10.0
        row.update(level_gap_db=float(abs(at_mic[0] - at_mic[1])),
                   height=float(np.median(rel[:, near].max(axis=1))))  # fmt: skip
    else:
        row["steady"] = sources[0].kind in STEADY
        az = float(np.mean(scene.truth.sources[0].azimuth_deg))
        far = np.abs(grid - az) > 30.0
        row["height"] = float(np.median(rel[:, far].max(axis=1)))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=24, help="scenes per mic × condition × family")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    cells = len(bench.MICS) * len(bench.CONDITIONS)
    jobs = [(i, fam, args.seed) for fam in ("two", "static") for i in range(cells * args.scenes)]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(_one, jobs, chunksize=4))
    one = [r for r in rows if r["family"] == "static" and r["steady"]]
    ghosts = np.array([r["height"] for r in one])
    two = [r for r in rows if r["family"] == "two"]
    print(f"{len(two)} two-source and {ghosts.size} one-source scenes "
          f"({', '.join(bench.MICS)} × {', '.join(bench.CONDITIONS)})\n")  # fmt: skip
    g50, g75, g97 = (float(np.percentile(ghosts, q)) for q in (50, 75, 97))
    print("| | scenes | median height | above the ghosts' 75th / 97th percentile | counted right |")
    print("|---|---|---|---|---|")
    right1 = np.mean([r["right"] for r in one])
    print(
        f"| one steady source: highest ghost > 30° away | {ghosts.size} | {g50:.2f} "
        f"(75th percentile {g75:.2f}, 97th {g97:.2f}) | – | {right1:.0%} |"
    )
    for lo, hi in ((0, 3), (3, 6), (6, 9), (9, 99), (0, 99)):
        sel = [r for r in two if lo <= r["level_gap_db"] < hi]
        if sel:
            h = np.array([r["height"] for r in sel])
            label = "all" if (lo, hi) == (0, 99) else f"{lo}-{hi} dB" if hi < 99 else f"≥ {lo} dB"
            print(
                f"| two sources, weaker one, level gap {label} | {h.size} | {np.median(h):.2f} "
                f"| {np.mean(h > g75):.0%} / {np.mean(h > g97):.0%} "
                f"| {np.mean([r['right'] for r in sel]):.0%} |"
            )


if __name__ == "__main__":
    main()

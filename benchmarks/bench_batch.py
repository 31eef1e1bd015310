"""Throughput of ``spa2v batch`` (issue #9 figures).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--clips 100] [--seconds 10]``

Writes ``--clips`` synthetic recordings of ``--seconds`` each, then runs the whole job
(cues, layout, cue plot, storyboard video with audio) on all of them, each run into a fresh
output folder, with the embedded defaults:

* local engine, ``--workers 1`` (baseline) and ``--workers 2``: target ≥ 1.8× throughput;
* Ray engine (a local instance), ``--workers 2``: target ≤ 15% overhead against the local
  engine with 2 workers (Ray's start-up included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from spa2v.audio.synth import PRESETS, render_preset
from spa2v.batch import run_batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "in"
        src.mkdir()
        for k in range(args.clips):
            preset = PRESETS[k % len(PRESETS)]
            render_preset(preset, duration_s=args.seconds, seed=k).save(src / f"c{k:03d}.wav")
        runs = [("local", 1), ("local", 2)] + ([] if args.skip_ray else [("ray", 2)])
        seconds = {}
        for engine, workers in runs:
            t0 = time.perf_counter()
            summary = run_batch(src, root / f"out_{engine}_{workers}", workers=workers,
                                engine=engine)  # fmt: skip
            seconds[(engine, workers)] = time.perf_counter() - t0
            assert summary["ok"] == args.clips, summary
        print(f"{args.clips} clips of {args.seconds:g} s, the whole job with the embedded "
              "defaults, each run into a fresh folder\n")  # fmt: skip
        print("| engine | workers | wall time (s) | clips/min |")
        print("|---|---|---|---|")
        for (engine, workers), t in seconds.items():
            print(f"| {engine} | {workers} | {t:.1f} | {args.clips / t * 60:.1f} |")
        speedup = seconds[("local", 1)] / seconds[("local", 2)]
        print(f"\n--workers 2 vs 1: {speedup:.2f}x throughput (target >= 1.8x)")
        if ("ray", 2) in seconds:
            over = seconds[("ray", 2)] / seconds[("local", 2)] - 1
            print(f"ray vs local engine (2 workers): {over:+.1%} (target <= +15%)")


if __name__ == "__main__":
    main()

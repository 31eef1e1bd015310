"""The DCASE2025 stereo SELD path without the dataset: scores in its format, and the import's
memory and speed (issue #21).

Run: ``.venv/bin/python benchmarks/bench_dcase.py [--clips 48] [--many 2000]``

* **Scores** — synthetic 5 s scenes (the project's own recipes: one static source, a
  crossing, a pass-by, two and three sources; spaced microphones, clean and reverberant) are
  written as a DCASE dataset: stereo WAV at 24 kHz and labels made from their truth (100 ms
  frames, azimuth folded to ±90°, distance in cm, on screen inside the 100° view). ``spa2v
  bench import dcase2025`` and ``bench run`` then score the cue planner against the naive
  baseline (same run): azimuth error, on/off-screen agreement, count accuracy per number of
  sources, and the layout metrics. These are spa2v's own scenes in the dataset's format —
  they check the path and the metrics, not spa2v on STARSS23's rooms.
* **Import** — ``--many`` small clips (5 s of silence at 8 kHz, two sources labelled): the
  peak memory of the import (tracemalloc) with a tenth of them vs all of them (it streams:
  it should not grow), and clips per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SPLIT = "dev-test-sony"


def _scene_rows(truth) -> list:
    from spa2v.evaluation.dcase import FOV_DEG, LabelRow, class_of

    t = np.asarray(truth.times_s)
    rows = []
    for k in range(int(round(truth.duration_s / 0.1))):
        for sid, src in enumerate(truth.sources):
            if (k + 0.5) * 0.1 < src.start_s:
                continue
            az = float(np.interp((k + 0.5) * 0.1, t, src.azimuth_deg))
            dist = float(np.interp((k + 0.5) * 0.1, t, src.distance_m)) * 100
            cls = class_of(src.label)
            rows.append(LabelRow(k, 8 if cls is None else cls, sid, az, dist,
                                 int(abs(az) <= FOV_DEG / 2)))  # fmt: skip
    return rows


def write_dataset(root: Path, clips: int) -> None:
    """Synthetic scenes as a DCASE dataset."""
    from spa2v.audio.synth import render_scene
    from spa2v.evaluation import bench
    from spa2v.evaluation.dcase import write_rows

    families = ("static", "left_to_right", "passby", "two", "three", "right_to_left")
    (root / "stereo_dev" / SPLIT).mkdir(parents=True)
    (root / "metadata_dev" / SPLIT).mkdir(parents=True)
    for i in range(clips):
        recipe = {"index": i, "seed": 1000 + i, "mic": "spaced",
                  "condition": ("clean", "reverberant")[(i // len(families)) % 2],
                  "family": families[i % len(families)]}  # fmt: skip
        sources = bench._sources(recipe, duration_s=5.0)
        condition = bench.CONDITIONS[recipe["condition"]]
        scene = render_scene(sources, duration_s=5.0, mic="spaced", sr=24_000,
                             seed=recipe["seed"], **condition)  # fmt: skip
        name = f"fold4_room{i % 7}_mix{i:03d}_{recipe['family']}_{recipe['condition']}"
        scene.save(root / "stereo_dev" / SPLIT / f"{name}.wav")
        write_rows(_scene_rows(scene.truth), root / "metadata_dev" / SPLIT / f"{name}.csv")


def import_memory(tmp: Path, many: int) -> dict[str, float]:
    from scipy.io import wavfile

    from spa2v.evaluation.dcase import LabelRow, import_dcase2025, write_rows

    root = tmp / "many"
    (root / "stereo_dev" / SPLIT).mkdir(parents=True)
    (root / "metadata_dev" / SPLIT).mkdir(parents=True)
    rows = [LabelRow(f, 1, s, 30.0 - 40 * s, 200.0, 1) for f in range(50) for s in range(2)]
    audio = np.zeros((5 * 8000, 2), np.int16)  # 5 s at 8 kHz: small files, 50 label frames
    for i in range(many):
        write_rows(rows, root / "metadata_dev" / SPLIT / f"c{i:05d}.csv")
        wavfile.write(root / "stereo_dev" / SPLIT / f"c{i:05d}.wav", 8000, audio)
    out = {}
    import_dcase2025(root, tmp / "warm-up", limit=5)  # imports and caches outside the count
    for n in (many // 10, many):
        tracemalloc.start()
        t0 = time.perf_counter()
        import_dcase2025(root, tmp / f"imported{n}", limit=n)
        out[f"seconds_{n}"] = time.perf_counter() - t0
        out[f"peak_mb_{n}"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--many", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spa2v-dcase-"))
    spa2v = [sys.executable, "-m", "spa2v.cli"]
    write_dataset(tmp / "data", args.clips)
    subprocess.run([*spa2v, "bench", "import", "dcase2025", str(tmp / "data"),
                    str(tmp / "bench")], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*spa2v, "bench", "run", str(tmp / "bench"), "--workers", str(args.workers)],
                   check=True, capture_output=True)  # fmt: skip
    doc = json.loads((tmp / "bench" / "results" / "cues" / "results.json").read_text())
    keys = ("az_error_deg", "onscreen_acc", "count_acc", "side_acc", "max_iou", "ltsim")
    print(f"{args.clips} synthetic 5 s scenes in DCASE2025 format (spaced microphones, clean "
          "and reverberant), cue planner vs the naive baseline, same run\n")  # fmt: skip
    print("| planner | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, s in (("cues", doc["overall"]), ("naive (baseline)", doc["baseline"])):
        print(f"| {name} | " + " | ".join(f"{s[k]:.3f}" for k in keys) + " |")
    print("\ncount accuracy per number of sources (cues):")
    for fam, s in doc["by_family"].items():
        print(f"  {fam}: {s['count_acc']:.2f} over {int(s['clips'])} clips, azimuth error "
              f"{s['az_error_deg']:.1f}°, on/off agreement {s['onscreen_acc']:.2f}")  # fmt: skip
    mem = import_memory(tmp, args.many)
    a, b = args.many // 10, args.many
    print(f"\nimport of {a} vs {b} clips: peak memory {mem[f'peak_mb_{a}']:.2f} MB vs "
          f"{mem[f'peak_mb_{b}']:.2f} MB ({mem[f'peak_mb_{b}'] / mem[f'peak_mb_{a}']:.2f}x "
          f"for {b // a}x the clips); {b / mem[f'seconds_{b}']:.0f} clips/s")  # fmt: skip
    print(f"(files kept in {tmp})")


if __name__ == "__main__":
    main()

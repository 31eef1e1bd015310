"""What audio tagging per source adds to planning a 10 s clip (issue #8 figures).

Run: ``.venv/bin/python benchmarks/bench_tagging.py [--repeats 3]``

A 10 s, 48 kHz stereo scene with two sources (the duet preset: a cow on the left, a helicopter
crossing). Timed in one process, best of ``--repeats``:

* baseline: the cue sheet and the cue-based plan without tagging;
* ``tag_sources`` (per-source masks, windows, batched model calls, smoothing) with the tiny AST
  and tiny CLAP test models (random weights), and with the default-size AST architecture
  (ViT-Base, 128 mel bins × 1024 frames, 527 classes; random weights: timing only).

Targets: under 1 s added with the tiny models, under 3 s with the default-size AST.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from tagging_models import write_tiny_ast, write_tiny_clap

from spa2v.audio.cues import compute_cues
from spa2v.audio.synth import render_preset
from spa2v.planning import PlanOptions, get_planner
from spa2v.tagging import get_tagger, tag_sources


def best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def default_ast(folder: Path) -> Path:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    labels = {i: f"class {i}" for i in range(527)}
    cfg = ASTConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    ASTForAudioClassification(cfg).save_pretrained(folder)
    ASTFeatureExtractor().save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    scene = render_preset("duet", duration_s=10.0, seed=1)
    cues = compute_cues(scene.audio, sr=scene.sr)
    base = best(lambda: get_planner("cues").plan(compute_cues(scene.audio, sr=scene.sr), None,
                                                  PlanOptions()), args.repeats)  # fmt: skip
    print(f"10 s stereo clip, {len(cues.sources)} tracked sources; best of {args.repeats}\n")
    print("| what | time (s) | added to planning |")
    print("|---|---|---|")
    print(f"| baseline: cue sheet + cue-based plan, no tagging | {base:.3f} | – |")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = [
            ("tiny AST (test model)", get_tagger("ast", str(write_tiny_ast(root / "ast"))), 1.0),
            ("tiny CLAP (test model)", get_tagger("clap", str(write_tiny_clap(root / "clap"))),
             1.0),
            ("default-size AST (random weights)", get_tagger("ast", str(default_ast(root / "b"))),
             3.0),
        ]  # fmt: skip
        for name, tagger, target in models:
            t = best(lambda tagger=tagger: tag_sources(scene.audio, scene.sr, cues, tagger),
                     args.repeats)  # fmt: skip
            verdict = "met" if t < target else "NOT met"
            print(f"| tagging, {name} | {t:.3f} | +{t / base * 100:.0f}% of the baseline; "
                  f"target < {target:g} s: {verdict} |")  # fmt: skip


if __name__ == "__main__":
    main()

"""Cue lock of the LLM planners against a scripted model that gets sides wrong (issue #5 figures).

Run: ``.venv/bin/python benchmarks/bench_llm.py [--quick] [--wrong 0.3]``

The scripted "model" (a backend object in this process; the LLM planner's whole path — prompt,
answer parsing, repair, cue lock — is the real one) answers every request with the scene's
ground-truth layout — right names, captions, sizes and motion — but with the boxes of a random
30% of its keyframes mirrored left/right. The scenes are those of ``bench_plan.py`` (static,
moving, approach/recede, two and three simultaneous sources; four microphone models, clean and
reverberant+noisy); names are given, as ``--label`` does, so every planner knows the count.

Scored per keyframe and object wherever the true azimuth is clearly to one side (≥ 20°): is
the box centre on that side of the frame? Printed in the same run:

* the cue-based planner (the reference);
* the scripted model taken as it is (``--trust llm``);
* the same with the cue lock (``--trust blend``, the default; target: within 2 points of the
  cue-based planner) and with positions from the cues (``--trust cues``).

Also: the prompt size (characters and a token estimate of about four characters per token) of
a 10 s clip with one and with two sources, three in-context examples.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_plan import CONDITIONS, scenes

from spa2v.audio.cues import CueParams, compute_cues
from spa2v.audio.load import Audio
from spa2v.audio.synth import MIC_MODELS, render_preset
from spa2v.layout.truth import layout_from_truth
from spa2v.planning import PlanOptions, get_planner
from spa2v.planning.llm import LLMPlanner, LLMSettings
from spa2v.planning.llm.backends import ChatRequest
from spa2v.planning.llm.examples import answer_from_layout

CLEAR_DEG = 20.0
MODES = ("cues-planner", "llm", "blend", "cues")


class ScriptedModel:
    """Answers with a fixed JSON text (the truth with some keyframes mirrored)."""

    name = "scripted"
    model = "scripted-truth-30pct-mirrored"

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def complete(self, request: ChatRequest) -> str:
        self.calls += 1
        return self.text


def _mirror(answer: dict, fraction: float, rng: np.random.Generator) -> dict:
    out = json.loads(json.dumps(answer))
    n = len(out["keyframes"])
    wrong = rng.choice(n, size=int(round(fraction * n)), replace=False)
    for k in wrong:
        for b in out["keyframes"][k]["boxes"]:
            x0, y0, x1, y1 = b["box"]
            b["box"] = [round(1 - x1, 4), y0, round(1 - x0, 4), y1]
    return out


def _score(layout, truth, times) -> tuple[int, int]:
    """(correct, total) keyframe sides where the truth is clearly to one side."""
    t_truth = np.asarray(truth.times_s)
    order = sorted(range(len(truth.sources)),
                   key=lambda k: -float(np.mean(truth.sources[k].azimuth_deg)))  # fmt: skip
    ok = total = 0
    for j, k in enumerate(order):
        az = np.interp(times, t_truth, truth.sources[k].azimuth_deg)
        obj = layout.objects[j].id if j < len(layout.objects) else None
        for i, kf in enumerate(layout.keyframes):
            if abs(az[i]) < CLEAR_DEG:
                continue
            total += 1
            box = next((b.box for b in kf.boxes if b.id == obj), None)
            if box is None:
                continue
            ok += int(((box[0] + box[2]) / 2 < 0.5) == (az[i] > 0))
    return ok, total


def run_cell(args: tuple) -> dict:
    mic, cond, n, seed, fraction = args
    rng = np.random.default_rng(seed + 1)
    tally = {m: [0, 0] for m in MODES}
    for family, scene, _ in scenes(mic, cond, n, seed):
        if family == "trend":
            continue  # approach/recede sources stay within ±30°: few clear sides
        truth = scene.truth
        n_src = len(truth.sources)
        cues = compute_cues(scene.audio, sr=scene.sr, params=CueParams(n_sources=n_src))
        audio = Audio(scene.audio, scene.sr, 2)
        names = tuple(f"thing{j}" for j in range(n_src))  # left to right, as --label
        truth_layout = layout_from_truth(truth, PlanOptions().keyframe_times(truth.duration_s),
                                         names=[names[j] for j in _order_back(truth)])  # fmt: skip
        options = PlanOptions(labels=names)
        times = np.array(options.keyframe_times(truth.duration_s))
        answer = _mirror(answer_from_layout(truth_layout, "scripted"), fraction, rng)
        text = json.dumps(answer)
        for mode in MODES:
            if mode == "cues-planner":
                layout = get_planner("cues").plan(cues, None, options)
            else:
                settings = LLMSettings(trust=mode, cache=False, n_examples=3)
                planner = LLMPlanner("openai", settings, backend=ScriptedModel(text))
                layout = planner.plan(cues, audio, options)
            ok, total = _score(layout, truth, times)
            tally[mode][0] += ok
            tally[mode][1] += total
    return {"mic": mic, "cond": cond, "tally": tally}


def _order_back(truth) -> list[int]:
    """Names in truth order such that, left to right, they read thing0, thing1, ..."""
    order = sorted(range(len(truth.sources)),
                   key=lambda k: -float(np.mean(truth.sources[k].azimuth_deg)))  # fmt: skip
    back = [0] * len(order)
    for rank, k in enumerate(order):
        back[k] = rank
    return back


def prompt_sizes() -> None:
    print("\n## Prompt size of a 10 s clip (3 in-context examples, audio not counted)\n")
    print("| scene | characters | tokens (estimate, chars / 4) |")
    print("|---|---|---|")
    for preset, labels in (("passby", ("car",)), ("duet", ("cow", "helicopter"))):
        scene = render_preset(preset, duration_s=10.0, seed=1)
        cues = compute_cues(scene.audio, sr=scene.sr, params=CueParams(n_sources=len(labels)))
        planner = LLMPlanner("openai", LLMSettings(cache=False), backend=ScriptedModel("{}"))
        system, messages, _ = planner.conversation(cues, PlanOptions(labels=labels),
                                                   with_audio=False)  # fmt: skip
        text = system + "".join(m.text for m in messages)
        request = messages[-1].text
        print(f"| {preset} ({len(labels)} source(s)), whole prompt | {len(text)} | "
              f"{len(text) // 4} |")  # fmt: skip
        print(f"| {preset}, of which the request (cue text) | {len(request)} | "
              f"{len(request) // 4} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--wrong", type=float, default=0.3, help="fraction of keyframes mirrored")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    n = 6 if args.quick else 24
    cells = [(m, c, n, args.seed + 97 * k, args.wrong) for k, (m, c) in
             enumerate((m, c) for m in MIC_MODELS for c in CONDITIONS)]  # fmt: skip
    print(f"## Keyframe side accuracy, scripted model with {args.wrong:.0%} of keyframes "
          f"mirrored ({n} scenes per family per cell)\n")  # fmt: skip
    print("| microphones | condition | cue planner | model as is (llm) | blend | cues |")
    print("|---|---|---|---|---|---|")
    total = {m: [0, 0] for m in MODES}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for cell in pool.map(run_cell, cells):
            row = []
            for m in MODES:
                ok, tot = cell["tally"][m]
                total[m][0] += ok
                total[m][1] += tot
                row.append(f"{ok / max(tot, 1):.1%}")
            print(f"| {cell['mic']} | {cell['cond']} | " + " | ".join(row) + " |")
            sys.stdout.flush()
    acc = {m: total[m][0] / max(total[m][1], 1) for m in MODES}
    print("| **all** | | " + " | ".join(f"**{acc[m]:.1%}**" for m in MODES) + " |")
    gap = (acc["cues-planner"] - acc["blend"]) * 100
    print(f"\nblend vs cue planner: {gap:+.1f} points behind "
          f"(target: within 2): {'MET' if gap <= 2.0 else 'NOT MET'}")  # fmt: skip
    prompt_sizes()


if __name__ == "__main__":
    main()

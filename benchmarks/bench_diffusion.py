"""Cost of layout guidance and of long clips: time and peak memory (issues #6 and #19).

Run: ``.venv/bin/python benchmarks/bench_diffusion.py [--full] [--device cuda] [--repeats 1]``

Random weights are fine for timing (no weights can be downloaded here). One process builds the
pipeline once and measures every case in turn (peak memory reset between cases:
``torch.cuda.reset_peak_memory_stats`` on CUDA, the process's peak resident set, VmHWM, reset
through ``/proc/self/clear_refs`` on the CPU):

* default — the tiny test models (``tests/diffusion_models.py``) on the CPU (2 cores here:
  small sizes), 32×32, 3 steps, windows of 8 frames every 4: unguided vs guided at 16 frames,
  then guided at 16, 32 and 64 frames (memory should stay flat within 15%: the UNet sees one
  window at a time; time should grow linearly — one more window per 4 frames), then the
  final-step layout energy and the attention inside the boxes, unguided vs guided, for a
  windowed 8-frame clip at 64×64 (windows of 4 every 2, as in the tests) on 3 seeds (random
  weights follow the latents only weakly, so the guidance step is large: 200);
* ``--full`` — the full-size architectures (SD 1.5 UNet + AnimateDiff v1-5-2 motion modules,
  CLIP ViT-L/14 text encoder, SD VAE), fp16 on CUDA, 25 steps: (a) 512×320, 16 frames,
  unguided vs guided (targets: guided ≤ 1.5× the time, ≤ 1.3× the peak memory); (b) a 10 s
  clip at 8 frames/s, 80 frames in windows of 16 every 4, unguided vs guided. Built to finish
  in under 8 minutes on one H100-class GPU (``--repeats 1``).

The device is named in the output.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
cfg = json.loads(sys.argv[2])
import torch
from spa2v.generation.diffusion import DiffusionGenerator, DiffusionSettings
from spa2v.layout.vsl import VSL

device = cfg["device"]
if cfg["full"]:
    from diffusers import AnimateDiffPipeline, AutoencoderKL, DDIMScheduler, UNetMotionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    from diffusion_models import tokenizer
    tok = tokenizer(Path(tempfile.mkdtemp()))
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    unet = UNetMotionModel(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                           cross_attention_dim=768, sample_size=64, motion_max_seq_length=32,
                           use_motion_mid_block=True)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=3072,
                       num_attention_heads=12, num_hidden_layers=12, max_position_embeddings=77,
                       hidden_act="quick_gelu", projection_dim=768, bos_token_id=len(tok) - 2,
                       eos_token_id=len(tok) - 1, pad_token_id=len(tok) - 1))
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2)
    pipe = AnimateDiffPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet,
                               motion_adapter=None,
                               scheduler=DDIMScheduler(beta_schedule="linear", clip_sample=False))
    pipe = pipe.to(dtype=dtype)
    base = {}
else:
    from diffusion_models import write_tiny_models
    model, adapter = write_tiny_models(Path(tempfile.mkdtemp()))
    base = {"model": str(model), "motion_adapter": str(adapter),
            "guidance_layers": ["down_blocks.0", "up_blocks.1"]}
    pipe = None

def layout(duration):
    return VSL(duration=duration,
               caption="a cow is on the left while a helicopter moves from left to right",
               objects=[{"id": 0, "name": "cow"}, {"id": 1, "name": "helicopter"}],
               keyframes=[{"time": 0.0, "caption": "the cow on the left",
                           "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]},
                                     {"id": 1, "box": [0.1, 0.0, 0.4, 0.3]}]},
                          {"time": duration, "caption": "the helicopter on the right",
                           "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]},
                                     {"id": 1, "box": [0.6, 0.0, 0.9, 0.3]}]}])

def reset_peak():
    if device.startswith("cuda"):
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")

def peak_mb():
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    return int(line.split()[1]) / 1024

gen = None
for case in cfg["cases"]:
    settings = DiffusionSettings(**{**base, "frames": case["frames"], "steps": cfg["steps"],
                                    "device": device, "layout_guidance": case["guided"],
                                    "context_length": cfg["context"][0],
                                    "context_stride": cfg["context"][1],
                                    **case.get("extra", {})})
    size = case.get("size", (cfg["width"], cfg["height"]))
    if gen is None:
        gen = DiffusionGenerator(settings)
        if pipe is not None:
            gen._pipe = gen._prepare(pipe, device)
        else:
            gen.pipeline()
        gen.generate(layout(2.0), width=size[0], height=size[1], seed=0)  # warm-up
    gen.settings = settings
    times = []
    for _ in range(case.get("repeats", cfg["repeats"])):
        reset_peak()
        t0 = time.perf_counter()
        gen.generate(layout(case["frames"] / 8), width=size[0], height=size[1],
                     seed=case.get("seed", 0))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"name": case["name"], "times": times, "peak_mb": peak_mb(),
                      "energy": gen.last_energy, "windows": gen.n_windows,
                      "in_box": gen.adherence}), flush=True)
"""


def run(cfg: dict) -> dict[str, dict]:
    """Run the cases in one child process, telling each one as it finishes."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    child = subprocess.Popen([sys.executable, "-c", CHILD, tests, json.dumps(cfg)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    rows = {}
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["name"]] = row
            print(f"  done: {row['name']} ({statistics.median(row['times']):.1f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
    if child.wait():
        raise SystemExit(child.stderr.read()[-3000:] if child.stderr else "the child failed")
    return rows


def _table(res: dict[str, dict]) -> None:
    print("| case | windows | time (s) | peak memory (MB) |")
    print("|---|---|---|---|")
    for name, r in res.items():
        if not name.startswith("energy"):
            t = statistics.median(r["times"])
            print(f"| {name} | {r['windows']} | {t:.2f} | {r['peak_mb']:.0f} |")


def _ratio(res: dict[str, dict], a: str, b: str) -> tuple[float, float]:
    t = statistics.median(res[a]["times"]) / statistics.median(res[b]["times"])
    return t, res[a]["peak_mb"] / res[b]["peak_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="full-size architectures (GPU)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeats", type=int, default=None, help="runs per case (median)")
    ap.add_argument("--size", default=None, help="WxH instead of the default (a smoke test)")
    ap.add_argument("--steps", type=int, default=None, help="steps instead of the default")
    ap.add_argument("--clip-frames", type=int, default=80, help="frames of --full's case (b)")
    args = ap.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.full:
        cfg = {"full": True, "steps": 25, "width": 512, "height": 320, "context": (16, 4),
               "repeats": args.repeats or 1}  # fmt: skip
        cfg["cases"] = [
            {"name": "(a) 16 frames, unguided (baseline)", "frames": 16, "guided": False},
            {"name": "(a) 16 frames, guided", "frames": 16, "guided": True},
            {"name": "(b) unguided", "frames": args.clip_frames, "guided": False},
            {"name": "(b) guided", "frames": args.clip_frames, "guided": True},
        ]
    else:
        cfg = {"full": False, "steps": 3, "width": 32, "height": 32, "context": (8, 4),
               "repeats": args.repeats or 1}  # fmt: skip
        cfg["cases"] = [
            {"name": "16 frames, unguided (baseline)", "frames": 16, "guided": False},
            *({"name": f"{n} frames, guided", "frames": n, "guided": True} for n in (16, 32, 64)),
            *({"name": f"energy seed {s} {'guided' if g else 'unguided'}", "frames": 8,
               "guided": g, "seed": s, "repeats": 1, "size": (64, 64),
               "extra": {"steps": 4, "guidance_steps": 4, "guidance_iterations": 3,
                         "guidance_scale": 200.0, "context_length": 4, "context_stride": 2}}
              for s in range(3) for g in (False, True)),
        ]  # fmt: skip
    cfg["device"] = device
    if args.size:
        cfg["width"], cfg["height"] = (int(v) for v in args.size.lower().split("x"))
    if args.steps:
        cfg["steps"] = args.steps
    res = run(cfg)
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "the CPU"
    label = "full-size SD 1.5 + AnimateDiff" if args.full else "tiny test models"
    length, stride = cfg["context"]
    print(f"{label}, {cfg['width']}x{cfg['height']}, {cfg['steps']} steps, windows of {length} "
          f"frames every {stride}, on {gpu}; median of {cfg['repeats']}\n")  # fmt: skip
    _table(res)
    if args.full:
        t, m = _ratio(res, "(a) 16 frames, guided", "(a) 16 frames, unguided (baseline)")
        print(f"\n(a) guided / unguided: time {t:.2f}x (target <= 1.5x), "
              f"peak memory {m:.2f}x (target <= 1.3x)")  # fmt: skip
        t, m = _ratio(res, "(b) guided", "(b) unguided")
        print(f"(b) {args.clip_frames} frames ({args.clip_frames / 8:g} s at 8 fps) guided / "
              f"unguided: time {t:.2f}x, peak memory {m:.2f}x")  # fmt: skip
        return
    t, m = _ratio(res, "16 frames, guided", "16 frames, unguided (baseline)")
    print(f"\nguided / unguided at 16 frames: time {t:.2f}x, peak memory {m:.2f}x")
    base = res["16 frames, guided"]["peak_mb"]
    flat = max(abs(res[f"{n} frames, guided"]["peak_mb"] / base - 1) for n in (32, 64))
    print(
        f"peak memory of guided generation at 32 and 64 frames vs 16: within {flat:.0%} "
        "(target: within 15%)"
    )
    t16, t32, t64 = (statistics.median(res[f"{n} frames, guided"]["times"]) for n in (16, 32, 64))
    slopes = ((t32 - t16) / 16, (t64 - t32) / 32)
    print(
        f"time per added frame, 16→32 vs 32→64: {slopes[0]:.3f} s vs {slopes[1]:.3f} s "
        f"({slopes[1] / slopes[0] - 1:+.0%}; linear within 20% is the target)"
    )
    for s in range(3):
        e0 = res[f"energy seed {s} unguided"]["energy"]
        e1 = res[f"energy seed {s} guided"]["energy"]
        box0 = statistics.mean(res[f"energy seed {s} unguided"]["in_box"].values())
        box1 = statistics.mean(res[f"energy seed {s} guided"]["in_box"].values())
        print(
            f"seed {s}, 8 frames in {res[f'energy seed {s} guided']['windows']} windows: "
            f"final-step layout energy {e0:.4f} unguided → {e1:.4f} guided; attention "
            f"inside the boxes {box0:.3f} → {box1:.3f}"
        )


if __name__ == "__main__":
    main()

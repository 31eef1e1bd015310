"""Cost of layout guidance and of long clips: time and peak memory (issues #6, #19, #20).

Run: ``.venv/bin/python benchmarks/bench_diffusion.py [--backbone animatediff|wan] [--full]
[--device cuda] [--repeats 1]``

Random weights are fine for timing (no weights can be downloaded here). One process builds the
pipeline once and measures every case in turn (peak memory reset between cases:
``torch.cuda.reset_peak_memory_stats`` on CUDA, the process's peak resident set, VmHWM, reset
through ``/proc/self/clear_refs`` on the CPU):

* default — the tiny test models (``tests/diffusion_models.py``) on the CPU (2 cores here:
  small sizes), 32×32 (Wan: 64×64, median of 5), 3 steps, in windows (AnimateDiff: 8 frames
  every 4; Wan: 17 frames = 5 latent frames every 8): unguided vs guided at the shortest
  length, then guided at 2 and 4 times as many frames (memory should stay flat within 15%:
  the denoiser sees one window at a time; time should grow linearly — one more window per
  stride), then the final-step
  layout energy and the attention inside the boxes, unguided vs guided, for a windowed clip
  at 64×64 on 3 seeds (random weights follow the latents only weakly, so the guidance step
  is large);
* ``--full`` — the full-size architectures with random weights, half precision on CUDA,
  25 steps. AnimateDiff (SD 1.5 UNet + v1-5-2 motion modules, CLIP ViT-L/14, SD VAE):
  (a) 512×320, 16 frames, unguided vs guided (targets: guided ≤ 1.5× the time, ≤ 1.3× the
  peak memory); (b) a 10 s clip at 8 frames/s, 80 frames in windows of 16 every 4. Wan 2.1
  1.3B (its transformer and VAE; a 2-layer UMT5 of the real width stands in for the 24-layer
  text encoder, which runs once per prompt): (a) 832×480, 81 frames (its native length),
  unguided vs guided, every block guided, gradient checkpointing on (the default);
  (b) a 10 s clip at 16 frames/s, 161 frames in 3 windows of 81. Each is sized to finish in
  under 8 minutes on one H100-class GPU (``--repeats 1``; an estimate from FLOPs).

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
backbone = cfg["backbone"]
pipe = None
if cfg["full"] and backbone == "wan":
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline,
                           WanTransformer3DModel)
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel
    from diffusion_models import write_t5_tokenizer
    from test_diffusion_wan import WAN_1_3B
    tok = AutoTokenizer.from_pretrained(write_t5_tokenizer(Path(tempfile.mkdtemp())))
    half = torch.bfloat16 if device.startswith("cuda") else torch.float32
    te = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=4096, d_kv=64, d_ff=10240,
                                     num_layers=2, num_heads=64, pad_token_id=0,
                                     eos_token_id=1, decoder_start_token_id=0))
    pipe = WanPipeline(tokenizer=tok, text_encoder=te.to(half),
                       transformer=WanTransformer3DModel(**WAN_1_3B).to(half),
                       vae=AutoencoderKLWan(),
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction",
                                                         use_flow_sigmas=True, flow_shift=3.0))
    base = {"backbone": "wan"}
elif cfg["full"]:
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
    base = {"backbone": "animatediff"}
elif backbone == "wan":
    from diffusion_models import write_tiny_wan
    base = {"model": str(write_tiny_wan(Path(tempfile.mkdtemp())))}
else:
    from diffusion_models import write_tiny_models
    model, adapter = write_tiny_models(Path(tempfile.mkdtemp()))
    base = {"model": str(model), "motion_adapter": str(adapter),
            "guidance_layers": ["down_blocks.0", "up_blocks.1"]}

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
        # warm-up at the case's sizes, 2 steps (one guided)
        gen.settings = settings.model_copy(update={"steps": 2, "guidance_steps": 1,
                                                   "layout_guidance": True})
        gen.generate(layout(2.0), width=size[0], height=size[1], seed=0)
    gen.settings = settings
    times = []
    for _ in range(case.get("repeats", cfg["repeats"])):
        reset_peak()
        t0 = time.perf_counter()
        gen.generate(layout(case["frames"] / cfg["fps"]), width=size[0], height=size[1],
                     seed=case.get("seed", 0))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"name": case["name"], "times": times, "peak_mb": peak_mb(),
                      "frames": gen.n_generated,
                      "energy": gen.last_energy, "windows": gen.n_windows,
                      "in_box": gen.adherence}), flush=True)
"""


def run(cfg: dict) -> dict[str, dict]:
    """Run the cases in one child process, telling each one as it finishes."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")  # tiny models and configs
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
    ap.add_argument(
        "--clip-frames",
        type=int,
        default=None,
        help="frames of --full's case (b) (default: 10 s at the backbone's rate)",
    )
    ap.add_argument("--backbone", choices=("animatediff", "wan"), default="animatediff")
    args = ap.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    wan = args.backbone == "wan"
    if args.full:
        first, clip = (81, args.clip_frames or 161) if wan else (16, args.clip_frames or 80)
        cfg = {"full": True, "steps": 25, "width": 832 if wan else 512,
               "height": 480 if wan else 320, "context": (81, 40) if wan else (16, 4),
               "repeats": args.repeats or 1, "fps": 16 if wan else 8}  # fmt: skip
        cfg["cases"] = [
            {"name": f"(a) {first} frames, unguided (baseline)", "frames": first,
             "guided": False},
            {"name": f"(a) {first} frames, guided", "frames": first, "guided": True},
            {"name": "(b) unguided", "frames": clip, "guided": False},
            {"name": "(b) guided", "frames": clip, "guided": True},
        ]  # fmt: skip
    else:
        # Wan: 33, 65, 129 frames = 9, 17, 33 latent frames in 3, 7, 15 windows of 5 every 2
        lengths = (33, 65, 129) if wan else (16, 32, 64)
        # the tiny Wan is fast: at 32x32 a run is fixed costs, so 64x64 and a median of 5
        cfg = {"full": False, "steps": 3, "width": 64 if wan else 32,
               "height": 64 if wan else 32, "context": (17, 8) if wan else (8, 4),
               "repeats": args.repeats or (5 if wan else 1),
               "fps": 16 if wan else 8, "lengths": lengths}  # fmt: skip
        energy = ({"frames": 17, "extra": {"context_length": 9, "context_stride": 4,
                                          "guidance_scale": 20.0}} if wan else
                  {"frames": 8, "extra": {"context_length": 4, "context_stride": 2,
                                          "guidance_scale": 200.0}})  # fmt: skip
        cfg["cases"] = [
            {"name": f"{lengths[0]} frames, unguided (baseline)", "frames": lengths[0],
             "guided": False},
            *({"name": f"{n} frames, guided", "frames": n, "guided": True} for n in lengths),
            *({"name": f"energy seed {s} {'guided' if g else 'unguided'}",
               "frames": energy["frames"], "guided": g, "seed": s, "repeats": 1,
               "size": (64, 64),
               "extra": {"steps": 4, "guidance_steps": 4, "guidance_iterations": 3,
                         **energy["extra"]}}
              for s in range(3) for g in (False, True)),
        ]  # fmt: skip
    cfg["backbone"] = args.backbone
    cfg["device"] = device
    if args.size:
        cfg["width"], cfg["height"] = (int(v) for v in args.size.lower().split("x"))
    if args.steps:
        cfg["steps"] = args.steps
    res = run(cfg)
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "the CPU"
    names = {"animatediff": "SD 1.5 + AnimateDiff", "wan": "Wan 2.1 1.3B"}
    label = (f"full-size {names[args.backbone]}" if args.full
             else f"tiny {names[args.backbone]} test models")  # fmt: skip
    length, stride = cfg["context"]
    print(f"{label}, {cfg['width']}x{cfg['height']}, {cfg['steps']} steps, windows of {length} "
          f"frames every {stride}, on {gpu}; median of {cfg['repeats']}\n")  # fmt: skip
    _table(res)
    if args.full:
        t, m = _ratio(
            res, f"(a) {first} frames, guided", f"(a) {first} frames, unguided (baseline)"
        )
        print(f"\n(a) guided / unguided: time {t:.2f}x (target <= 1.5x), "
              f"peak memory {m:.2f}x (target <= 1.3x)")  # fmt: skip
        t, m = _ratio(res, "(b) guided", "(b) unguided")
        print(f"(b) {clip} frames ({clip / cfg['fps']:g} s at {cfg['fps']} fps) guided / "
              f"unguided: time {t:.2f}x, peak memory {m:.2f}x")  # fmt: skip
        return
    a, b, c = cfg["lengths"]
    t, m = _ratio(res, f"{a} frames, guided", f"{a} frames, unguided (baseline)")
    print(f"\nguided / unguided at {a} frames: time {t:.2f}x, peak memory {m:.2f}x")
    base = res[f"{a} frames, guided"]["peak_mb"]
    flat = max(abs(res[f"{n} frames, guided"]["peak_mb"] / base - 1) for n in (b, c))
    print(f"peak memory of guided generation at {b} and {c} frames vs {a}: within {flat:.0%} "
          "(target: within 15%)")  # fmt: skip
    ta, tb, tc = (statistics.median(res[f"{n} frames, guided"]["times"]) for n in (a, b, c))
    slopes = ((tb - ta) / (b - a), (tc - tb) / (c - b))
    print(f"time per added frame, {a}→{b} vs {b}→{c}: {slopes[0]:.3f} s vs {slopes[1]:.3f} s "
          f"({slopes[1] / slopes[0] - 1:+.0%}; linear within 20% is the target)")  # fmt: skip
    for s in range(3):
        e0 = res[f"energy seed {s} unguided"]["energy"]
        e1 = res[f"energy seed {s} guided"]["energy"]
        box0 = statistics.mean(res[f"energy seed {s} unguided"]["in_box"].values())
        box1 = statistics.mean(res[f"energy seed {s} guided"]["in_box"].values())
        print(
            f"seed {s}, {res[f'energy seed {s} guided']['frames']} frames in "
            f"{res[f'energy seed {s} guided']['windows']} windows: final-step layout energy "
            f"{e0:.4f} unguided → {e1:.4f} guided; attention inside the boxes {box0:.3f} → "
            f"{box1:.3f}"
        )


if __name__ == "__main__":
    main()

"""Cost of layout guidance: unguided vs guided generation time and peak memory (issue #6).

Run: ``.venv/bin/python benchmarks/bench_diffusion.py [--full] [--device cuda] [--repeats 2]``

Random weights are fine for timing (no weights can be downloaded here):

* default — the tiny test models (``tests/diffusion_models.py``) on the CPU, 64×64, 8 frames,
  10 steps: a smoke test of the measurement;
* ``--full`` — the full-size architectures (SD 1.5 UNet + AnimateDiff v1-5-2 motion modules,
  CLIP ViT-L/14 text encoder, SD VAE) at 512×320×16 frames, 25 steps, fp16 on CUDA: the
  issue's figure (targets: guided ≤ 1.5× the unguided time, peak memory ≤ 1.3×).

Each run happens in a fresh process; peak memory is ``torch.cuda.max_memory_allocated`` on
CUDA and the process's peak resident set (VmHWM) on the CPU. Guidance uses the defaults
(first 5 of 25 steps, 1 iteration, the four LVD layers; the tiny UNet's two cross-attention
blocks).
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
    settings = DiffusionSettings(frames=cfg["frames"], steps=cfg["steps"], device=device,
                                 layout_guidance=cfg["guided"], guidance_chunk=cfg["chunk"],
                                 gradient_checkpointing=cfg["checkpointing"])
    layers = settings.guidance_layers
else:
    from diffusion_models import write_tiny_models
    model, adapter = write_tiny_models(Path(tempfile.mkdtemp()))
    settings = DiffusionSettings(model=str(model), motion_adapter=str(adapter),
                                 frames=cfg["frames"], steps=cfg["steps"], device=device,
                                 layout_guidance=cfg["guided"], guidance_steps=5,
                                 guidance_layers=["down_blocks.0", "up_blocks.1"],
                                 guidance_chunk=cfg["chunk"],
                                 gradient_checkpointing=cfg["checkpointing"])
    pipe = None
gen = DiffusionGenerator(settings)
if pipe is not None:
    gen._pipe = gen._prepare(pipe, device)
else:
    gen.pipeline()
layout = VSL(duration=4.0,
             caption="a cow is on the left while a helicopter moves from left to right",
             objects=[{"id": 0, "name": "cow"}, {"id": 1, "name": "helicopter"}],
             keyframes=[{"time": 0.0, "caption": "the cow on the left",
                         "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]},
                                   {"id": 1, "box": [0.1, 0.0, 0.4, 0.3]}]},
                        {"time": 4.0, "caption": "the helicopter on the right",
                         "boxes": [{"id": 0, "box": [0.0, 0.4, 0.4, 1.0]},
                                   {"id": 1, "box": [0.6, 0.0, 0.9, 0.3]}]}])
gen.generate(layout, width=cfg["width"], height=cfg["height"], seed=0)  # warm-up
if device.startswith("cuda"):
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(cfg["repeats"]):
    t0 = time.perf_counter()
    gen.generate(layout, width=cfg["width"], height=cfg["height"], seed=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    times.append(time.perf_counter() - t0)
if device.startswith("cuda"):
    peak = torch.cuda.max_memory_allocated() / 2**20
else:
    peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps({"times": times, "peak_mb": peak}))
"""


def run(cfg: dict) -> dict:
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    out = subprocess.run([sys.executable, "-c", CHILD, tests, json.dumps(cfg)],
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="full-size architectures, 512x320x16")
    ap.add_argument("--device", default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=0, help="--guidance-chunk (0: all frames)")
    ap.add_argument("--checkpointing", action="store_true", help="--gradient-checkpointing")
    args = ap.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.full:
        cfg = {"full": True, "frames": 16, "steps": 25, "width": 512, "height": 320}
    else:
        cfg = {"full": False, "frames": 8, "steps": 10, "width": 64, "height": 64}
    cfg.update(
        device=device, repeats=args.repeats, chunk=args.chunk, checkpointing=args.checkpointing
    )
    res = {g: run({**cfg, "guided": g}) for g in (False, True)}
    label = "full-size SD 1.5 + AnimateDiff" if args.full else "tiny test models"
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"{label}, {cfg['width']}x{cfg['height']}x{cfg['frames']} frames, {cfg['steps']} steps, "
          f"on {gpu}; guidance chunk {args.chunk or 'all'}, gradient checkpointing "
          f"{'on' if args.checkpointing else 'off'}; median of {args.repeats}\n")  # fmt: skip
    print("| run | time (s) | peak memory (MB) |")
    print("|---|---|---|")
    for g in (False, True):
        t = statistics.median(res[g]["times"])
        print(f"| {'guided' if g else 'unguided (baseline)'} | {t:.2f} | {res[g]['peak_mb']:.0f} |")
    rt = statistics.median(res[True]["times"]) / statistics.median(res[False]["times"])
    rm = res[True]["peak_mb"] / res[False]["peak_mb"]
    print(f"\nguided / unguided: time {rt:.2f}x (target <= 1.5x on GPU), "
          f"peak memory {rm:.2f}x (target <= 1.3x on GPU)")  # fmt: skip


if __name__ == "__main__":
    main()

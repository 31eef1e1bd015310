"""Tiny Stable Diffusion + AnimateDiff components with random weights, written to local folders.

As diffusers' own fast tests do, every component is built from a small config; the CLIP
tokenizer's vocabulary and merges are written here (whole-word tokens for the given words,
single letters for anything else), so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = (
    "a cow is on the left while helicopter moves from to right dog runs across field car "
    "drives street bird flies sky person stands centre close far away moving sound source "
    "blurry low quality distorted deformed watermark text"
).split()


def write_tokenizer(folder: Path, words: tuple[str, ...] | list[str] = WORDS) -> Path:
    """A CLIP BPE tokenizer whose merges build each of ``words`` into one token."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}

    def add(tok: str) -> None:
        if tok not in vocab:
            vocab[tok] = len(vocab)

    for special in ("!", '"', "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/"):
        add(special)
        add(special + "</w>")
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        add(c)
        add(c + "</w>")
    merges: list[str] = []
    for word in dict.fromkeys(w.lower() for w in words):
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            rule = f"{a} {b}"
            if rule not in merges:
                merges.append(rule)
            pieces = [a + b, *pieces[2:]]
            add(pieces[0])
    add("<|startoftext|>")
    add("<|endoftext|>")
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


def tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    write_tokenizer(folder)
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77
    )


def tiny_components(folder: Path, *, vocab_size: int) -> dict:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        norm_num_groups=2,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4,
        norm_num_groups=2,
    )  # fmt: skip
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, hidden_size=32,
            intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4,
            num_hidden_layers=2, pad_token_id=vocab_size - 1, vocab_size=vocab_size,
        )
    )  # fmt: skip
    scheduler = DDIMScheduler(beta_schedule="linear", clip_sample=False)
    with torch.no_grad():  # sharper cross-attention than tiny random weights give by default
        for name, module in unet.named_modules():
            if name.endswith("attn2"):
                module.to_q.weight.mul_(8.0)
                module.to_k.weight.mul_(8.0)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "scheduler": scheduler}


def write_tiny_models(folder: Path) -> tuple[Path, Path]:
    """Save a tiny SD-1.5-shaped model folder and a tiny motion adapter; return both paths."""
    import torch
    from diffusers import MotionAdapter, StableDiffusionPipeline

    tok = tokenizer(folder / "tok")
    parts = tiny_components(folder, vocab_size=len(tok))
    pipe = StableDiffusionPipeline(
        **parts, tokenizer=tok, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip
    model = folder / "sd"
    pipe.save_pretrained(model, safe_serialization=True)
    torch.manual_seed(1)
    adapter = MotionAdapter(
        block_out_channels=(32, 64), motion_layers_per_block=1, motion_norm_num_groups=2,
        motion_num_attention_heads=4,
    )  # fmt: skip
    adapter_dir = folder / "adapter"
    adapter.save_pretrained(adapter_dir, safe_serialization=True)
    return model, adapter_dir

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


def write_t5_tokenizer(folder: Path, words: tuple[str, ...] | list[str] = WORDS) -> Path:
    """A T5-style (SentencePiece unigram) tokenizer built with ``tokenizers``: one piece per
    word of ``words``, single characters for anything else, ``</s>`` appended."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)]
    vocab += [("▁" + w, -1.0) for w in dict.fromkeys(w.lower() for w in words)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab += [(c, -6.0) for c in letters + letters.upper() + "0123456789.,;:!?'\"-#()"]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    cls = getattr(transformers, "T5TokenizerFast", None) or transformers.T5Tokenizer
    wrapped = cls(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                  extra_ids=0, model_max_length=512)  # fmt: skip
    wrapped.save_pretrained(folder)
    return folder


def tiny_wan_components(vocab_size: int) -> dict:
    """Tiny Wan 2.1 parts (diffusers' own test sizes), random weights."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])  # fmt: skip
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                   num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                   eos_token_id=1, decoder_start_token_id=0)
    )  # fmt: skip
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    # Wan 2.1 1.3B's scheduler: UniPC on flow-matching sigmas, shift 3
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=3.0, num_train_timesteps=1000)  # fmt: skip
    with torch.no_grad():  # sharper cross-attention than tiny random weights give by default
        for block in transformer.blocks:
            block.attn2.to_q.weight.mul_(8.0)
            block.attn2.to_k.weight.mul_(8.0)
    return {"transformer": transformer, "vae": vae, "text_encoder": text_encoder,
            "scheduler": scheduler}  # fmt: skip


def write_tiny_wan(folder: Path) -> Path:
    """Save a tiny Wan 2.1 text-to-video pipeline folder (``WanPipeline``); return its path."""
    from diffusers import WanPipeline
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(write_t5_tokenizer(folder / "t5-tokenizer"))
    pipe = WanPipeline(tokenizer=tok, **tiny_wan_components(len(tok)))
    model = folder / "wan"
    pipe.save_pretrained(model, safe_serialization=True)
    return model

"""Tiny AST and CLAP models with random weights, and their feature extractor and tokenizer,
written to local folders (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

LABELS = ["Speech", "Dog", "Vehicle horn, car horn, honking",
          "Bird vocalization, bird call, bird song", "Silence", "Cattle, bovinae"]  # fmt: skip


def write_tiny_ast(folder: Path) -> Path:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    cfg = ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        num_mel_bins=16, max_length=64, frequency_stride=8, time_stride=8, patch_size=16,
        id2label=dict(enumerate(LABELS)), label2id={lbl: i for i, lbl in enumerate(LABELS)},
    )  # fmt: skip
    ASTForAudioClassification(cfg).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=16, max_length=64, sampling_rate=16000).save_pretrained(folder)
    return folder


def write_tiny_clap(folder: Path) -> Path:
    import torch
    from diffusion_models import write_tokenizer
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        ClapTextConfig,
        RobertaTokenizer,
    )

    tok_dir = write_tokenizer(folder / "tok", ["the", "sound", "of", "a", "car", "dog", "bird"])
    vocab = json.loads((tok_dir / "vocab.json").read_text())
    for special in ("<s>", "</s>", "<pad>", "<unk>", "<mask>", "Ġ"):
        vocab.setdefault(special, len(vocab))
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    tok = RobertaTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"))
    torch.manual_seed(0)
    audio = ClapAudioConfig(
        window_size=4, num_mel_bins=16, spec_size=64, patch_size=2, patch_stride=2, freq_ratio=2,
        hidden_size=32, patch_embeds_hidden_size=16, projection_dim=32, depths=[2, 2],
        num_attention_heads=[2, 2], intermediate_size=37,
    )  # fmt: skip
    text = ClapTextConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=37, projection_dim=32,
                          max_position_embeddings=80)  # fmt: skip
    model = ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(),
                                 projection_dim=32))  # fmt: skip
    model.save_pretrained(folder)
    extractor = ClapFeatureExtractor(
        feature_size=16, sampling_rate=48000, hop_length=480, max_length_s=1,
        fft_window_size=1024, truncation="rand_trunc", padding="repeatpad",
    )  # fmt: skip
    ClapProcessor(feature_extractor=extractor, tokenizer=tok).save_pretrained(folder)
    return folder

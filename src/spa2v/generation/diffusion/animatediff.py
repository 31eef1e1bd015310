"""The AnimateDiff backbone: Stable Diffusion 1.5's UNet with a motion adapter, DDIM.

One latent frame per generated frame, a prompt per frame (``--captions``), the text
cross-attention of the chosen UNet blocks recorded by
:class:`~spa2v.generation.diffusion.guidance.RecordingProcessor`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spa2v.config import DiffusionSettings
from spa2v.generation.diffusion import guidance
from spa2v.generation.diffusion.prompts import FramePrompt, frame_prompts
from spa2v.layout.vsl import VSL


class AnimateDiff:
    """Stable Diffusion 1.5 + an AnimateDiff motion adapter (``AnimateDiffPipeline``)."""

    name = "animatediff"
    #: generated frames per latent frame
    time_compression = 1
    #: width and height must be multiples of this (the VAE's factor)
    size_multiple = 8

    # ------------------------------------------------------------------ loading
    @staticmethod
    def load(folders: dict[str, str], settings: DiffusionSettings, dtype: Any) -> Any:
        import diffusers

        from spa2v.generation.diffusion.generator import load_error

        try:
            adapter = diffusers.MotionAdapter.from_pretrained(
                folders["motion adapter"], use_safetensors=True, torch_dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise load_error("motion adapter", settings.motion_adapter, exc) from None
        try:
            return diffusers.AnimateDiffPipeline.from_pretrained(
                folders["model"], motion_adapter=adapter, use_safetensors=True, torch_dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise load_error("model", settings.model or folders["model"], exc) from None

    @staticmethod
    def half() -> Any:
        return torch.float16

    @staticmethod
    def prepare(pipe: Any, settings: DiffusionSettings, device: str) -> Any:
        from diffusers import DDIMScheduler

        from spa2v.generation.diffusion.generator import place

        pipe.scheduler = DDIMScheduler.from_config(
            pipe.scheduler.config, beta_schedule="linear", clip_sample=False,
            timestep_spacing="linspace", steps_offset=1,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        if getattr(pipe, "free_noise_enabled", False):
            pipe.disable_free_noise()  # the windows are the generator's, over the whole UNet
        return place(pipe, pipe.unet, settings, device)

    @staticmethod
    def layer_names(folder: str) -> list[str] | None:
        """The UNet blocks with text cross-attention, from ``unet/config.json`` (None when it
        cannot be read: loading will say why)."""
        from spa2v.generation.diffusion.generator import read_json

        config = read_json(Path(folder) / "unet" / "config.json")
        if config is None:
            return None
        down = [f"down_blocks.{i}" for i, kind in enumerate(config.get("down_block_types", []))
                if "CrossAttn" in kind]  # fmt: skip
        up = [f"up_blocks.{i}" for i, kind in enumerate(config.get("up_block_types", []))
              if "CrossAttn" in kind]  # fmt: skip
        mid_kind = str(config.get("mid_block_type") or "UNetMidBlock2DCrossAttn")
        mid = ["mid_block"] if "CrossAttn" in mid_kind else []
        return down + mid + up

    @staticmethod
    def spatial_factor(pipe: Any) -> int:
        return int(pipe.vae_scale_factor)

    @staticmethod
    def channels(pipe: Any) -> int:
        return int(pipe.unet.config.in_channels)

    # ------------------------------------------------------------------ time axis
    @staticmethod
    def frame_count(n: int) -> int:
        return n

    @staticmethod
    def latent_frames(n: int) -> int:
        return n

    @staticmethod
    def latent_times(layout: VSL, n: int) -> np.ndarray:
        return layout.frame_times(n)

    # ------------------------------------------------------------------ conditioning
    @staticmethod
    def conditioning(
        pipe: Any,
        layout: VSL,
        times: np.ndarray,
        settings: DiffusionSettings,
        device: Any,
        spans: list[tuple[int, int]],
    ) -> FrameConditioning:
        """A prompt per frame (``settings.captions``), encoded once per distinct text."""
        prompts = frame_prompts(layout, times.size, pipe.tokenizer, mode=settings.captions)
        cond = _encode(pipe, [p.text for p in prompts], device)
        uncond = _encode(pipe, [settings.negative_prompt] * times.size, device)
        return FrameConditioning(cond, uncond, prompts)

    # ------------------------------------------------------------------ denoising
    @staticmethod
    def predict(pipe: Any, latents: Any, t: Any, embeddings: Any) -> Any:
        unet = pipe.unet
        x = pipe.scheduler.scale_model_input(latents, t).to(unet.dtype)
        return unet(x, t, encoder_hidden_states=embeddings).sample

    @staticmethod
    def noise_level(scheduler: Any, step: int, t: Any) -> float:
        """DDIM: the latent update's scale, sqrt(1 - alpha_bar_t)."""
        return math.sqrt(1.0 - float(scheduler.alphas_cumprod[int(t)]))

    @staticmethod
    def scheduler_for(pipe: Any, guided_steps: int) -> Any:
        return pipe.scheduler

    @staticmethod
    def hooks(pipe: Any, layers: list[str], store: guidance.AttentionStore) -> Any:
        return guidance.installed(pipe.unet, layers, store)

    @staticmethod
    def decode(pipe: Any, latents: Any) -> np.ndarray:
        vae = pipe.vae
        frames = []
        z = latents[0].permute(1, 0, 2, 3) / vae.config.scaling_factor  # (frames, 4, h, w)
        for f in range(z.shape[0]):  # one frame at a time (VAE slicing)
            img = vae.decode(z[f : f + 1].to(vae.dtype)).sample
            img = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            frames.append(img[0].permute(1, 2, 0).cpu().numpy())
        return np.stack(frames)


class FrameConditioning:
    """Prompt embeddings per frame: a window's are the slice of its frames."""

    def __init__(self, cond: Any, uncond: Any, prompts: list[FramePrompt]) -> None:
        self.cond, self.uncond = cond, uncond
        self.tokens = [p.tokens for p in prompts]
        self.texts = dict.fromkeys(p.text for p in prompts)

    def window(self, a: int, b: int) -> tuple[Any, Any, list[dict[int, list[int]]]]:
        """Conditional and unconditional embeddings of frames ``a:b`` and their tokens."""
        return self.cond[a:b], self.uncond[a:b], self.tokens[a:b]

    def prompts(self) -> list[str]:
        """The distinct prompts."""
        return list(self.texts)


def _encode(pipe: Any, texts: list[str], device: Any) -> Any:
    tok = pipe.tokenizer
    unique = list(dict.fromkeys(texts))
    ids = tok(
        unique, padding="max_length", max_length=tok.model_max_length, truncation=True,
        return_tensors="pt",
    ).input_ids.to(device)  # fmt: skip
    with torch.no_grad():
        emb = pipe.text_encoder(ids)[0]
    index = torch.tensor([unique.index(t) for t in texts], device=device)
    return emb[index].to(pipe.unet.dtype)

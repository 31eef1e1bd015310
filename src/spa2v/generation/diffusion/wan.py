"""The Wan 2.1 backbone: a video diffusion transformer (``WanPipeline``), flow matching.

Wan's VAE packs the first frame into one latent frame and every following 4 frames into one
more (81 frames → 21 latent frames), 8× in space; the transformer cuts the latents into 2×2
patches, so the video tokens of a cross-attention layer form a (latent frames × height/16 ×
width/16) grid. :class:`WanRecordingProcessor` records their attention to the text tokens
and lays it out per latent frame, so the layout energy is the AnimateDiff path's, unchanged;
each latent frame's boxes are the layout's at the mean time of the frames it packs.

Wan has one prompt per clip: here one per window (see :func:`clip_prompt`), the global
caption followed by the captions of the keyframes in force during the window, in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from spa2v.config import MAX_GENERATED_FRAMES, DiffusionSettings
from spa2v.generation.diffusion import guidance
from spa2v.generation.diffusion.prompts import FramePrompt, clip_prompt, locate
from spa2v.layout.vsl import VSL

#: Text tokens the pipeline encodes (its ``max_sequence_length``; shorter prompts are padded
#: with zeros, which the transformer attends to like any token).
TEXT_TOKENS = 512


class WindowConditioning:
    """One prompt per denoising window, built from the keyframes in force during its frames
    (:func:`clip_prompt`) and encoded once per distinct text; a guidance group takes the
    prompt of the window it overlaps most, so guidance and denoising read the same text."""

    def __init__(
        self,
        pipe: Any,
        layout: VSL,
        times: np.ndarray,
        settings: DiffusionSettings,
        device: Any,
        spans: list[tuple[int, int]],
    ) -> None:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        self.pipe, self.device, self.spans = pipe, device, spans
        # the pipeline cleans a prompt before tokenizing: the names are located in clean text
        names = {o.id: prompt_clean(o.name) for o in layout.objects}
        self._encoded: dict[str, Any] = {}
        self.window_prompts: list[FramePrompt] = []
        for a, b in spans:
            # from the clip's start for the first window, to its end for the last (a keyframe
            # at the very end is in force after the last frame's time)
            t0 = 0.0 if a == 0 else float(times[a])
            t1 = layout.duration if b == len(times) else float(times[b - 1])
            text = prompt_clean(clip_prompt(layout, t0, t1, mode=settings.captions))
            full, tokens = locate(pipe.tokenizer, text, names, limit=TEXT_TOKENS)
            if full not in self._encoded:
                self._encoded[full] = self._encode(full)
            self.window_prompts.append(FramePrompt(full, tokens))
        self.uncond = self._encode(prompt_clean(settings.negative_prompt))

    def _encode(self, text: str) -> Any:
        emb, _ = self.pipe.encode_prompt(
            prompt=[text], do_classifier_free_guidance=False, max_sequence_length=TEXT_TOKENS,
            device=self.device,
        )  # fmt: skip
        return emb.to(self.pipe.transformer.dtype)

    def window(self, a: int, b: int) -> tuple[Any, Any, list[dict[int, list[int]]]]:
        """The prompt embedding of latent frames ``a:b`` (one for all of them: that of the
        denoising window overlapping them most), the negative prompt's, and the names'
        token positions for each frame."""
        overlap = [min(b, y) - max(a, x) for x, y in self.spans]
        prompt = self.window_prompts[overlap.index(max(overlap))]
        return self._encoded[prompt.text], self.uncond, [prompt.tokens] * (b - a)

    def prompts(self) -> list[str]:
        """The distinct prompts, in window order."""
        return list(dict.fromkeys(p.text for p in self.window_prompts))


class Wan:
    """Wan 2.1 text-to-video (``WanPipeline``: UMT5 text encoder, ``WanTransformer3DModel``,
    ``AutoencoderKLWan``)."""

    name = "wan"
    time_compression = 4
    #: the VAE's 8× times the transformer's 2× patches
    size_multiple = 16

    # ------------------------------------------------------------------ loading
    @staticmethod
    def load(folders: dict[str, str], settings: DiffusionSettings, dtype: Any) -> Any:
        import diffusers

        from spa2v.generation.diffusion.generator import load_error

        try:  # the VAE stays in float32, as Wan's authors run it
            vae = diffusers.AutoencoderKLWan.from_pretrained(
                folders["model"], subfolder="vae", use_safetensors=True, torch_dtype=torch.float32
            )
            return diffusers.WanPipeline.from_pretrained(
                folders["model"], vae=vae, use_safetensors=True, torch_dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise load_error("model", settings.model or folders["model"], exc) from None

    @staticmethod
    def half() -> Any:
        """Wan's weights are bfloat16 (float16 overflows in its blocks)."""
        return torch.bfloat16

    @staticmethod
    def prepare(pipe: Any, settings: DiffusionSettings, device: str) -> Any:
        from spa2v.generation.diffusion.generator import place

        pipe.set_progress_bar_config(disable=True)
        return place(pipe, pipe.transformer, settings, device)

    @staticmethod
    def layer_names(folder: str) -> list[str] | None:
        """The transformer's blocks (``blocks.0`` …), from ``transformer/config.json`` (None
        when it cannot be read: loading will say why)."""
        from spa2v.generation.diffusion.generator import read_json

        config = read_json(Path(folder) / "transformer" / "config.json")
        if config is None or not isinstance(config.get("num_layers"), int):
            return None
        return [f"blocks.{i}" for i in range(config["num_layers"])]

    @staticmethod
    def spatial_factor(pipe: Any) -> int:
        return int(pipe.vae_scale_factor_spatial)

    @staticmethod
    def channels(pipe: Any) -> int:
        return int(pipe.transformer.config.in_channels)

    # ------------------------------------------------------------------ time axis
    @staticmethod
    def frame_count(n: int) -> int:
        """``n`` frames rounded up to 4k + 1 (the VAE's packing), at most
        :data:`~spa2v.config.MAX_GENERATED_FRAMES`."""
        return min(4 * -(-(max(n, 1) - 1) // 4) + 1, (MAX_GENERATED_FRAMES - 1) // 4 * 4 + 1)

    @staticmethod
    def latent_frames(n: int) -> int:
        """Latent frames of ``n`` generated frames (``n`` = 4k + 1 gives k + 1)."""
        return (max(n, 1) - 1) // 4 + 1

    @staticmethod
    def latent_times(layout: VSL, n: int) -> np.ndarray:
        """Each latent frame's time: the mean time of the frames it packs (the first frame
        alone, then 4 each)."""
        t = layout.frame_times(n)
        latent = (n - 1) // 4 + 1
        return np.array([t[0], *(t[4 * k - 3 : 4 * k + 1].mean() for k in range(1, latent))])

    # ------------------------------------------------------------------ conditioning
    #: built as ``conditioning(pipe, layout, times, settings, device, spans)``
    conditioning = WindowConditioning

    # ------------------------------------------------------------------ denoising
    @staticmethod
    def predict(pipe: Any, latents: Any, t: Any, embeddings: Any) -> Any:
        model = pipe.transformer
        return model(
            hidden_states=latents.to(model.dtype), timestep=t.expand(latents.shape[0]),
            encoder_hidden_states=embeddings, return_dict=False,
        )[0]  # fmt: skip

    @staticmethod
    def noise_level(scheduler: Any, step: int, t: Any) -> float:
        """Flow matching: the latent update's scale is the step's sigma (the noise's share)."""
        return float(scheduler.sigmas[step])

    @staticmethod
    def scheduler_for(pipe: Any, guided_steps: int) -> Any:
        """The pipeline's scheduler; UniPC's corrector off at the guided steps after the first.

        At step i, UniPC's corrector rebuilds the latents from step i - 1's, which would undo
        the guidance's update of them at step i (its option names the step before: i - 1).
        """
        scheduler = pipe.scheduler
        if "disable_corrector" in scheduler.config:
            scheduler = type(scheduler).from_config(
                scheduler.config, disable_corrector=list(range(guided_steps - 1))
            )
            pipe.scheduler = scheduler
        return scheduler

    @staticmethod
    def hooks(pipe: Any, layers: list[str], store: guidance.AttentionStore) -> Any:
        return guidance.installed(pipe.transformer, layers, store, WanRecordingProcessor,
                                  accepts=_text_cross_attention)  # fmt: skip

    @staticmethod
    def decode(pipe: Any, latents: Any) -> np.ndarray:
        vae = pipe.vae
        z_dim = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1)
        z = latents.to(vae.device, torch.float32) * std.to(vae.device) + mean.to(vae.device)
        video = vae.decode(z.to(vae.dtype), return_dict=False)[0]  # (1, 3, frames, h, w)
        video = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return video.permute(1, 2, 3, 0).cpu().numpy()


def _text_cross_attention(module: Any) -> bool:
    # a Wan block's attn2 attends to the text (diffusers before 0.35 built it as a generic
    # Attention without the is_cross_attention flag); text-to-video only: an image-to-video
    # block's attn2 also attends to an image through its added key projection
    return getattr(module, "add_k_proj", None) is None


class WanRecordingProcessor(guidance.RecordingProcessor):
    """A Wan cross-attention processor that records its probabilities while the store is
    active, as ``(latent frames, patches, text tokens)`` maps averaged over heads.

    Same computation as diffusers' ``WanAttnProcessor`` for text-to-video blocks, with the
    attention written out so its probabilities can be kept (and differentiated).
    """

    def __call__(  # type: ignore[override]
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: Any = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if not self.store.active or encoder_hidden_states is None:
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask,
                                 rotary_emb, **kwargs)  # fmt: skip
        query = attn.to_q(hidden_states)
        if getattr(attn, "fused_projections", False):
            key, value = attn.to_kv(encoder_hidden_states).chunk(2, dim=-1)
        else:
            key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        if attn.norm_q is not None:
            query, key = attn.norm_q(query), attn.norm_k(key)
        # (batch, heads, tokens, head_dim)
        query, key, value = (x.unflatten(2, (attn.heads, -1)).transpose(1, 2)
                             for x in (query, key, value))  # fmt: skip
        # in float32, as scaled-dot-product attention computes internally in half precision
        scores = query.float() @ key.float().transpose(-1, -2) * query.shape[-1] ** -0.5
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = scores.softmax(dim=-1)
        out = (probs.to(value.dtype) @ value).transpose(1, 2).flatten(2, 3).type_as(query)
        out = attn.to_out[1](attn.to_out[0](out))
        maps = probs.mean(dim=1)  # (batch, video tokens, text tokens), frame by frame:
        frames = self.store.frames
        self.store.keep(self.name, maps.reshape(maps.shape[0] * frames, -1, maps.shape[-1]))
        return out

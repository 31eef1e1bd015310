"""Training-free layout guidance (LVD-style): cross-attention maps and their box energy.

Attention processors installed on the chosen layers' cross-attention (``attn2``) compute the
attention probabilities explicitly *only while recording* (the guided passes and, when asked,
the last step) and keep their mean over heads; at all other times they hand over to PyTorch's
scaled-dot-product attention, so memory is spent only where guidance needs it.

The energy of one object in one frame and layer, with ``A`` the attention of each latent pixel
to the object's tokens (divided by its largest value in the frame, so that the map's shape
counts rather than the share of attention the token gets) and ``p`` the top-k fraction::

    fg = 1 - mean(top-k(A inside the box))      (absent from the frame: no fg term)
    bg = mean(top-k(A outside the box))
    E  = w_fg * fg + w_bg * bg

averaged over objects, frames and layers (Lian et al., "LLM-grounded Video Diffusion Models",
ICLR 2024). The latents move down its gradient: ``z -= scale * sqrt(1 - alpha_bar_t) * dE/dz``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from spa2v.errors import ParameterError


class AttentionStore:
    """Cross-attention maps recorded by the recording processors, per layer name.

    Attributes
    ----------
    active : bool
        Record during the next model calls (and, for a guided pass, until its backward pass
        is done: gradient checkpointing runs the forward pass again then).
    keep_last_half : bool
        The batch is [unconditional, conditional]: keep the conditional half.
    frames : int
        Latent frames in the model's input (a transformer's video tokens are cut into them).
    columns : int or None
        Keep only the first this many text tokens' maps (those of the prompt; the rest pad).
    maps : dict of str to Tensor [shape=(frames, pixels, tokens)]
    """

    def __init__(self) -> None:
        self.active = False
        self.keep_last_half = False
        self.frames = 1
        self.columns: int | None = None
        self.maps: dict[str, torch.Tensor] = {}

    def clear(self) -> None:
        self.maps = {}

    def keep(self, name: str, maps: torch.Tensor) -> None:
        """Record a layer's ``(batch, pixels, tokens)`` maps: the conditional half of a
        classifier-free-guidance batch, the prompt's columns."""
        if self.keep_last_half:
            maps = maps[maps.shape[0] // 2 :]
        if self.columns:
            maps = maps[..., : self.columns]
        self.maps[name] = maps


class RecordingProcessor:
    """A cross-attention processor that records its probabilities while the store is active."""

    def __init__(self, store: AttentionStore, name: str, fallback: Any) -> None:
        self.store = store
        self.name = name
        self.fallback = fallback

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        if not self.store.active or encoder_hidden_states is None or hidden_states.ndim != 3:
            return self.fallback(
                attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs
            )
        residual = hidden_states
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        value = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(query, key, attention_mask)
        batch = hidden_states.shape[0]
        maps = probs.reshape(batch, attn.heads, probs.shape[1], probs.shape[2]).mean(dim=1)
        self.store.keep(self.name, maps)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


@contextlib.contextmanager
def installed(
    model: Any,
    prefixes: tuple[str, ...] | list[str],
    store: AttentionStore,
    recorder: type = RecordingProcessor,
    accepts: Any = None,
) -> Iterator[list[str]]:
    """Recording processors on the text cross-attention (``attn2``) under ``prefixes`` for the
    ``with`` block.

    Parameters
    ----------
    model : torch.nn.Module
        The denoiser (a UNet or a video transformer).
    prefixes : sequence of str
        Blocks whose cross-attention is recorded (``down_blocks.1``; ``blocks`` for all of a
        transformer's blocks, ``blocks.3`` for one).
    store : AttentionStore
    recorder : type
        The processor class, called as ``recorder(store, name, fallback)`` with the layer's
        own processor as the fallback.
    accepts : callable or None
        ``accepts(module)``: whether an ``attn2`` module is a text cross-attention (default:
        its ``is_cross_attention`` flag, which AnimateDiff's motion modules lack).

    Yields the names of the guided layers. The model's own processors are put back when the
    block ends, even on an error, so a pipeline used afterwards runs as it was loaded.

    Raises
    ------
    ParameterError
        When no cross-attention layer matches (e.g. a layer name that the model lacks).
    """
    accepts = accepts or (lambda module: getattr(module, "is_cross_attention", False))
    names = [
        name
        for name, module in model.named_modules()
        if name.endswith("attn2")
        and accepts(module)
        and hasattr(module, "set_processor")
        and any(name.startswith(p + ".") for p in prefixes)
    ]
    if not names:
        raise ParameterError(
            f"no cross-attention layer of the model matches --guidance-layers {','.join(prefixes)}"
        )
    modules = dict(model.named_modules())
    originals = {name: modules[name].processor for name in names}
    for name in names:
        modules[name].set_processor(recorder(store, name, originals[name]))
    try:
        yield names
    finally:
        for name, processor in originals.items():
            modules[name].set_processor(processor)


def _box_mask(box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Boolean mask (h, w) of the latent pixels whose centres fall in a normalised box."""
    ys = (torch.arange(h, device=box.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=box.device, dtype=torch.float32) + 0.5) / w
    inside_y = (ys >= box[1]) & (ys <= box[3])
    inside_x = (xs >= box[0]) & (xs <= box[2])
    mask = inside_y[:, None] & inside_x[None, :]
    if not mask.any():  # a box thinner than a latent pixel: its nearest pixel
        cy = min(int(float((box[1] + box[3]) / 2) * h), h - 1)
        cx = min(int(float((box[0] + box[2]) / 2) * w), w - 1)
        mask[cy, cx] = True
    return mask


def _topk_mean(values: torch.Tensor, fraction: float) -> torch.Tensor:
    k = max(1, int(math.ceil(fraction * values.numel())))
    return torch.topk(values, k).values.mean()


def _grids(
    maps: dict[str, torch.Tensor], latent_hw: tuple[int, int]
) -> Iterator[tuple[torch.Tensor, int, int]]:
    """Each layer's maps with the (height, width) of its attention grid."""
    lh, lw = latent_hw
    for m in maps.values():
        pixels = m.shape[1]
        scale = math.sqrt(lh * lw / pixels)
        h, w = max(1, round(lh / scale)), max(1, round(lw / scale))
        if h * w != pixels:
            raise RuntimeError(f"cannot lay {pixels} attention pixels on a {lh}x{lw} grid")
        yield m, h, w


def box_shares(
    maps: dict[str, torch.Tensor],
    latent_hw: tuple[int, int],
    tokens: list[dict[int, list[int]]],
    boxes: dict[int, torch.Tensor],
) -> dict[int, tuple[float, int]]:
    """Share of each object's cross-attention mass that falls inside its box.

    For every layer and frame where the object has a box: the attention of the latent pixels
    to the object's tokens, summed inside the box, over its sum everywhere. Returns per object
    id the sum of those shares and their count (to be averaged over windows and frames); an
    object's share is about the box's area where attention ignores the layout, and near 1
    where it follows it.
    """
    out: dict[int, tuple[float, int]] = {}
    for m, h, w in _grids(maps, latent_hw):
        for oid, box in boxes.items():
            total, count = out.get(oid, (0.0, 0))
            for f in range(m.shape[0]):
                b = box[f]
                if torch.isnan(b).any():
                    continue
                a = m[f][:, tokens[f][oid]].float().mean(dim=-1)
                inside = _box_mask(b, h, w).reshape(-1)
                total += float(a[inside].sum() / (a.sum() + 1e-12))
                count += 1
            out[oid] = (total, count)
    return out


def layout_energy(
    maps: dict[str, torch.Tensor],
    latent_hw: tuple[int, int],
    tokens: list[dict[int, list[int]]],
    boxes: dict[int, torch.Tensor],
    *,
    topk: float,
    fg_weight: float,
    bg_weight: float,
) -> torch.Tensor:
    """The layout energy of recorded maps (see the module docstring).

    Parameters
    ----------
    maps : dict of str to Tensor [shape=(frames, pixels, tokens)]
        Head-averaged cross-attention of each layer.
    latent_hw : (int, int)
        Height and width of the latents (the maps' aspect ratio).
    tokens : list of dict
        Per frame, per object id, its token positions.
    boxes : dict of int to Tensor [shape=(frames, 4)]
        Per object id, its normalised box in each frame (NaN where absent).
    """
    total = None
    count = 0
    for m, h, w in _grids(maps, latent_hw):
        frames = m.shape[0]
        for oid, box in boxes.items():
            for f in range(frames):
                a = m[f][:, tokens[f][oid]].mean(dim=-1)
                a = a / (a.max() + 1e-8)  # the map's shape matters, not the token's share
                b = box[f]
                if torch.isnan(b).any():
                    term = bg_weight * _topk_mean(a, topk)
                else:
                    inside = _box_mask(b, h, w).reshape(-1)
                    fg = 1.0 - _topk_mean(a[inside], topk)
                    outside = a[~inside]
                    bg = _topk_mean(outside, topk) if outside.numel() else a.new_zeros(())
                    term = fg_weight * fg + bg_weight * bg
                total = term if total is None else total + term
                count += 1
    if total is None:
        raise RuntimeError("no attention was recorded")
    return total / count

"""Options of the diffusion generator (no torch import here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from spa2v.errors import ParameterError

#: Stable Diffusion 1.5 (the paper's base model), as a Hugging Face hub id.
DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: The AnimateDiff motion adapter for SD 1.5 (v2, 16-frame context).
DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-2"
#: Denoising steps guided unless said otherwise (all of them when there are fewer).
DEFAULT_GUIDANCE_STEPS = 5
#: Cross-attention layers whose maps are guided (LVD: down_blocks.1/2 and up_blocks.1/2).
DEFAULT_LAYERS = ("down_blocks.1", "down_blocks.2", "up_blocks.1", "up_blocks.2")
CAPTION_MODES = ("global", "local", "mix")


@dataclass(frozen=True)
class DiffusionSettings:
    """Settings of ``--generator diffusion``.

    Attributes
    ----------
    model : str
        Stable Diffusion 1.5 weights: a local folder (diffusers layout) or a hub id available
        on this machine. Only safetensors files are loaded.
    motion_adapter : str
        AnimateDiff motion adapter: local folder or hub id.
    frames : int
        Frames generated (16 as in the paper); they are stretched over the layout's duration
        (the video's frames blend the two nearest generated ones). More than
        ``context_length`` uses FreeNoise sliding windows.
    steps : int
        Denoising steps (DDIM).
    cfg_scale : float
        Classifier-free guidance scale.
    negative_prompt : str
        What the video should not look like.
    device : str or None
        ``cuda``, ``cpu`` (or another torch device); None picks CUDA when available.
    fp16 : bool
        Half precision on CUDA (ignored on the CPU).
    captions : {"global", "local", "mix"}
        Prompt of each frame: the global caption, the keyframe's local caption, or both (the
        paper's best setting).
    layout_guidance : bool
        Steer the latents towards the layout's boxes (training-free, LVD-style).
    layers : tuple of str
        Prefixes of the UNet blocks whose cross-attention (``attn2``) is read and guided.
    guidance_steps : int or None
        The first K denoising steps are guided; None: ``DEFAULT_GUIDANCE_STEPS`` (5), or all
        steps when there are fewer.
    iterations : int
        Gradient updates per guided step.
    layout_scale : float
        Step size of the latent update (times ``sqrt(1 - alpha_bar_t)``).
    topk : float
        Fraction of the pixels inside (outside) a box averaged by the energy's terms.
    fg_weight, bg_weight : float
        Weights of the inside and outside terms.
    context_length, context_stride : int
        FreeNoise windows for videos longer than the motion adapter's context.
    cpu_offload : bool
        Keep only the running model on the GPU (slower, much less GPU memory).
    gradient_checkpointing : bool
        Recompute activations in the guided backward pass (less memory, more time).
    guidance_chunk : int
        Guide the frames in groups of this many (0 = all at once): the backward pass keeps
        the activations of one group only; the motion modules then see one group at a time,
        so the gradient across groups is approximate.
    """

    model: str = DEFAULT_MODEL
    motion_adapter: str = DEFAULT_MOTION_ADAPTER
    frames: int = 16
    steps: int = 25
    cfg_scale: float = 7.5
    negative_prompt: str = "blurry, low quality, distorted, deformed, watermark, text"
    device: str | None = None
    fp16: bool = True
    captions: str = "mix"
    layout_guidance: bool = True
    layers: tuple[str, ...] = DEFAULT_LAYERS
    guidance_steps: int | None = None
    iterations: int = 1
    layout_scale: float = 5.0
    topk: float = 0.5
    fg_weight: float = 1.0
    bg_weight: float = 3.0
    context_length: int = 16
    context_stride: int = 4
    cpu_offload: bool = False
    gradient_checkpointing: bool = False
    guidance_chunk: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= 512:
            raise ParameterError(f"--frames must be within 1 … 512, got {self.frames}")
        if not 1 <= self.steps <= 500:
            raise ParameterError(f"--steps must be within 1 … 500, got {self.steps}")
        if self.captions not in CAPTION_MODES:
            raise ParameterError(f"--captions must be one of {', '.join(CAPTION_MODES)}")
        if self.guidance_steps is None:  # the default follows the number of steps
            object.__setattr__(self, "guidance_steps", min(DEFAULT_GUIDANCE_STEPS, self.steps))
        elif not 0 <= self.guidance_steps <= self.steps:
            raise ParameterError(
                f"--guidance-steps must be within 0 … --steps ({self.steps}), "
                f"got {self.guidance_steps}"
            )
        if not 1 <= self.iterations <= 20:
            raise ParameterError("--guidance-iterations must be within 1 … 20")
        if not 0.0 < self.topk <= 1.0:
            raise ParameterError("--guidance-topk must be within (0, 1]")
        for name in ("cfg_scale", "layout_scale", "fg_weight", "bg_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParameterError(f"{name.replace('_', '-')} must be a non-negative number")
        if (
            not 2 <= self.context_length <= 64
            or not 1 <= self.context_stride <= self.context_length
        ):
            raise ParameterError("FreeNoise context: length 2 … 64, stride 1 … length")
        if self.guidance_chunk < 0:
            raise ParameterError("--guidance-chunk must be 0 (all frames) or more")
        if not self.layers:
            raise ParameterError("at least one guided layer is needed")

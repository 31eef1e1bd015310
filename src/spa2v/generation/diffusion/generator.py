"""AnimateDiff (Stable Diffusion 1.5 + a motion adapter) steered by the layout, without training.

The denoising loop is spa2v's own (the components come from diffusers' ``AnimateDiffPipeline``)
so that the first K steps can move the latents down the layout energy's gradient
(:mod:`~spa2v.generation.diffusion.guidance`); every other step is a plain DDIM step with
classifier-free guidance. The clip gets duration × ``gen_fps`` frames, each with its own prompt
(``--captions``) and its own boxes (the keyframes interpolated). Clips longer than the motion
adapter's context run in sliding windows over the whole UNet (:func:`windows`), with FreeNoise's
shuffled initial noise, so memory does not grow with the clip; the generated frames are placed
at their true times in the video (:meth:`DiffusionGenerator.frames`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from spa2v.config import DiffusionSettings
from spa2v.errors import ParameterError, Spa2vError
from spa2v.extras import require
from spa2v.generation.base import RenderRequest
from spa2v.layout.vsl import VSL
from spa2v.registry import settings_of

if TYPE_CHECKING:
    from spa2v.config import RunConfig


class DiffusionError(Spa2vError, RuntimeError):
    """The diffusion generator cannot run (weights that do not load, memory)."""


def _imports() -> tuple[Any, Any]:
    torch, diffusers, _ = require("diffusion", "the diffusion generator")
    return torch, diffusers


def _load_error(what: str, ref: str, exc: Exception) -> DiffusionError:
    return DiffusionError(
        f"cannot load the {what} {ref!r}: a diffusers folder with safetensors weights is "
        f"expected ({type(exc).__name__})"
    )


def windows(n: int, length: int, stride: int) -> list[tuple[int, int]]:
    """Sliding windows ``(start, stop)`` over ``n`` frames: ``length`` frames every ``stride``,
    the last one ending at the last frame; one window when the clip fits in one.

    The UNet (spatial layers and motion modules alike) sees one window at a time and the
    noise predictions of overlapping windows are averaged, each weighted down towards its
    window's edges; with FreeNoise's shuffled initial noise (see :meth:`_initial_noise`)
    this is FreeNoise's sliding-window scheme applied to the whole UNet, so that neither the
    spatial layers' activations nor the guided backward pass grow with the clip.
    """
    if n <= length:
        return [(0, n)]
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] != n - length:
        starts.append(n - length)
    return [(a, a + length) for a in starts]


def _window_weights(size: int, several: bool) -> Any:
    """Weights of a window's frames when windows overlap: a pyramid (FreeNoise's default)."""
    import torch

    if not several:
        return torch.ones(size)
    ramp = torch.arange(size, dtype=torch.float32)
    return torch.minimum(ramp + 1, size - ramp)


class DiffusionGenerator:
    """``--generator diffusion``: AnimateDiff with training-free layout guidance.

    Parameters
    ----------
    settings : DiffusionSettings or None
        Options (model paths, frames, steps, guidance…).
    pipeline : object or None
        A ready ``AnimateDiffPipeline`` (tests); loaded from ``settings`` otherwise.
    """

    name = "diffusion"

    def __init__(self, settings: DiffusionSettings | None = None, pipeline: Any = None) -> None:
        self.settings = settings or DiffusionSettings()
        self._pipe = pipeline
        self._folders: dict[str, str] | None = None
        self.last_energy: float | None = None
        self.energies: list[float] = []
        #: cross-attention layers guided (or measured) in the last generation
        self.guided_layers: list[str] = []
        #: per object name, the share of its attention inside its box at the last step
        self.adherence: dict[str, float] = {}
        self.n_generated: int | None = None
        self.n_windows: int | None = None
        #: whether the last generation was guided (guidance on and some steps to guide)
        self.guided = False

    @classmethod
    def from_config(cls, config: RunConfig | None = None) -> DiffusionGenerator:
        """The generator for a run's configuration (its ``diffusion`` section)."""
        return cls(settings_of(config, "diffusion"))

    # ------------------------------------------------------------------ loading
    def preflight(self) -> None:
        """Fail early, before any other work: the extra is installed, the weights are on this
        machine (a local folder, or a hub id in the local cache; nothing is downloaded) and
        the device exists."""
        from spa2v.weights import resolve_weights

        _imports()
        if self._pipe is None and self.device().startswith("cuda"):
            torch, _ = _imports()
            if not torch.cuda.is_available():
                raise DiffusionError("diffusion.device is cuda, but no CUDA GPU is available")
        if self._pipe is None:
            self._folders = {
                "model": resolve_weights(self.settings.model, "model"),
                "motion adapter": resolve_weights(self.settings.motion_adapter, "motion adapter"),
            }

    def device(self) -> str:
        torch, _ = _imports()
        if self.settings.device:
            return self.settings.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def pipeline(self) -> Any:
        """The AnimateDiff pipeline (loaded on first use)."""
        if self._pipe is not None:
            return self._pipe
        if self._folders is None:
            self.preflight()
        assert self._folders is not None
        torch, diffusers = _imports()
        s = self.settings
        device = self.device()
        dtype = torch.float16 if (s.fp16 and device.startswith("cuda")) else torch.float32
        try:
            adapter = diffusers.MotionAdapter.from_pretrained(
                self._folders["motion adapter"], use_safetensors=True, torch_dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise _load_error("motion adapter", s.motion_adapter, exc) from None
        try:
            pipe = diffusers.AnimateDiffPipeline.from_pretrained(
                self._folders["model"], motion_adapter=adapter, use_safetensors=True,
                torch_dtype=dtype,
            )  # fmt: skip
        except (OSError, ValueError) as exc:
            raise _load_error("model", s.model, exc) from None
        self._pipe = self._prepare(pipe, device)
        return self._pipe

    def _prepare(self, pipe: Any, device: str) -> Any:
        from diffusers import DDIMScheduler

        s = self.settings
        pipe.scheduler = DDIMScheduler.from_config(
            pipe.scheduler.config, beta_schedule="linear", clip_sample=False,
            timestep_spacing="linspace", steps_offset=1,
        )  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.requires_grad_(False)
        if s.cpu_offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        if s.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        return pipe

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        layout: VSL,
        *,
        width: int,
        height: int,
        seed: int = 0,
        measure_energy: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Generate the clip's frames: ``(frames, height, width, 3)`` uint8 RGB.

        As many frames as :meth:`DiffusionSettings.generated_frames` gives for the layout's
        duration, at the centres of equal stretches of the clip. Longer than one context:
        the UNet runs on sliding windows (see :func:`windows`), so memory does not grow
        with the clip. With ``measure_energy`` (the default) the last step's attention gives
        the layout energy (:attr:`last_energy`) and each object's share of attention inside
        its box (:attr:`adherence`).
        """
        torch, _ = _imports()
        from spa2v.generation.diffusion import guidance
        from spa2v.generation.diffusion.prompts import frame_prompts

        s = self.settings
        if width % 8 or height % 8:
            raise ParameterError("the diffusion generator needs a width and height divisible by 8")
        pipe = self.pipeline()
        unet, vae, scheduler = pipe.unet, pipe.vae, pipe.scheduler
        device = pipe._execution_device
        dtype = unet.dtype
        n = s.generated_frames(layout.duration)
        prompts = frame_prompts(layout, n, pipe.tokenizer, mode=s.captions)
        cond = self._encode(pipe, [p.text for p in prompts], device)
        uncond = self._encode(pipe, [s.negative_prompt] * n, device)
        self._disable_free_noise(pipe)  # the windows are the UNet's, below
        spans = windows(n, s.context_length, s.context_stride)

        store = guidance.AttentionStore()
        guide = s.layout_guidance and s.guided_steps > 0
        self.guided = guide
        recording = (guidance.installed(unet, s.guidance_layers, store) if guide or measure_energy
                     else contextlib.nullcontext([]))  # fmt: skip
        lh, lw = height // pipe.vae_scale_factor, width // pipe.vae_scale_factor
        latents = self._initial_noise(n, lh, lw, seed, device, dtype, unet.config.in_channels)
        latents = latents * scheduler.init_noise_sigma
        times = layout.frame_times(n)
        interp = layout.interpolate(times)
        boxes = {
            oid: torch.tensor(b, dtype=torch.float32, device=device) for oid, b in interp.items()
        }
        tokens = [p.tokens for p in prompts]
        scheduler.set_timesteps(s.steps, device=device)
        self.energies = []
        self.last_energy = None
        self.adherence = {}
        self.n_generated, self.n_windows = n, len(spans)
        counts = Counter(o.name for o in layout.objects)
        names = {o.id: o.name if counts[o.name] == 1 else f"{o.name} #{o.id}"
                 for o in layout.objects}  # fmt: skip
        # the UNet's own attention processors are back when the block ends, even on an error
        with recording as self.guided_layers:
            oom = getattr(torch.cuda, "OutOfMemoryError", MemoryError)
            try:
                for i, t in enumerate(scheduler.timesteps):
                    if guide and i < s.guided_steps:
                        alpha_bar = float(scheduler.alphas_cumprod[int(t)])
                        for _ in range(s.guidance_iterations):
                            grad, energy = self._guidance_grad(
                                unet, scheduler.scale_model_input(latents, t), t, cond, store,
                                (lh, lw), tokens, boxes,
                            )  # fmt: skip
                            self.energies.append(energy)
                            step = s.guidance_scale * math.sqrt(1.0 - alpha_bar)
                            latents = (latents - step * grad).detach()
                    last = i == len(scheduler.timesteps) - 1
                    with torch.no_grad():
                        noise = self._predict(unet, scheduler.scale_model_input, latents, t,
                                              (uncond, cond), spans, store,
                                              measure=(measure_energy and last, (lh, lw), tokens,
                                                       boxes, names))  # fmt: skip
                        latents = scheduler.step(noise, t, latents).prev_sample
                    if progress is not None:
                        progress(i + 1, len(scheduler.timesteps))
                with torch.no_grad():
                    frames = self._decode(vae, latents)
            except oom:
                raise DiffusionError(
                    "out of GPU memory: try diffusion.cpu_offload, "
                    "diffusion.gradient_checkpointing, a lower diffusion.gen_fps, a shorter "
                    "diffusion.context_length, a smaller planning.width and planning.height, "
                    "or no diffusion.layout_guidance"
                ) from None
        return frames

    def _predict(self, unet, scale_input, latents, t, embeddings, spans, store, measure):
        """The classifier-free-guided noise of all frames, window by window.

        Overlapping windows' predictions are averaged with :func:`_window_weights`. With
        ``measure[0]`` the windows' attention gives :attr:`last_energy` and :attr:`adherence`.
        """
        import torch

        from spa2v.generation.diffusion import guidance

        s = self.settings
        uncond, cond = embeddings
        active, latent_hw, tokens, boxes, names = measure
        n = latents.shape[2]
        # accumulated in float32: a sum of weighted fp16 predictions loses ~1e-3
        noise = torch.zeros_like(latents, dtype=torch.float32)
        weight = torch.zeros(n, device=latents.device, dtype=torch.float32)
        energy, shares = 0.0, {}
        for a, b in spans:
            store.active, store.keep_last_half = active, True
            model_in = scale_input(torch.cat([latents[:, :, a:b]] * 2), t)
            both = torch.cat([uncond[a:b], cond[a:b]])
            n_uncond, n_cond = unet(model_in, t, encoder_hidden_states=both).sample.chunk(2)
            store.active = False
            if active:
                part = {k: v[a:b] for k, v in boxes.items()}
                e = guidance.layout_energy(store.maps, latent_hw, tokens[a:b], part,
                                           topk=s.guidance_topk, fg_weight=s.fg_weight,
                                           bg_weight=s.bg_weight)  # fmt: skip
                energy += (b - a) * float(e)
                found = guidance.box_shares(store.maps, latent_hw, tokens[a:b], part)
                for oid, (total, count) in found.items():
                    old = shares.get(oid, (0.0, 0))
                    shares[oid] = (old[0] + total, old[1] + count)
                store.clear()
            w = _window_weights(b - a, len(spans) > 1).to(weight)[None, None, :, None, None]
            noise[:, :, a:b] += (n_uncond + s.cfg_scale * (n_cond - n_uncond)).float() * w
            weight[a:b] += w.reshape(-1)
        if active:
            self.last_energy = energy / sum(b - a for a, b in spans)
            self.adherence = {names[k]: tot / cnt for k, (tot, cnt) in shares.items() if cnt}
        return (noise / weight[None, None, :, None, None]).to(latents.dtype)

    def report(self) -> dict[str, Any]:
        """What the last generation did, for ``run.json`` and the run's summary."""
        return {
            "generated_frames": self.n_generated,
            "windows": self.n_windows,
            "layout_guidance": self.guided,
            "guided_layers": len(self.guided_layers),
            "layout_energy": None if self.last_energy is None else round(self.last_energy, 4),
            "attention_in_box": {k: round(v, 4) for k, v in self.adherence.items()},
        }

    def _guidance_grad(self, unet, model_in, t, cond, store, latent_hw, tokens, boxes):
        """Gradient of the layout energy with respect to the latents, and the energy.

        The frames are guided in equal groups of at most ``guidance_chunk`` (default: one
        context length; the motion modules see only the group): activation memory of the
        backward pass stays that of one group, at the cost of an approximate gradient across
        groups.
        """
        import torch

        from spa2v.generation.diffusion import guidance

        s = self.settings
        n = model_in.shape[2]
        # groups of at most one context (so memory does not grow with the clip), of equal
        # size: no short tail group whose frames the motion modules would see nearly alone
        chunk = s.guidance_chunk or s.context_length
        groups = -(-n // chunk)
        bounds = [round(k * n / groups) for k in range(groups + 1)]
        grads, total = [], 0.0
        for a, b in itertools.pairwise(bounds):
            part = model_in[:, :, a:b].detach().requires_grad_(True)
            store.active, store.keep_last_half = True, False
            with torch.enable_grad():
                unet(part, t, encoder_hidden_states=cond[a:b])
                store.active = False
                energy = guidance.layout_energy(
                    store.maps, latent_hw, tokens[a:b], {k: v[a:b] for k, v in boxes.items()},
                    topk=s.guidance_topk, fg_weight=s.fg_weight, bg_weight=s.bg_weight,
                )  # fmt: skip
                (g,) = torch.autograd.grad(energy.float() * (b - a) / n, part)
            store.clear()
            grads.append(g)
            total += float(energy.detach()) * (b - a) / n
        return torch.cat(grads, dim=2), total

    @staticmethod
    def _disable_free_noise(pipe: Any) -> None:
        if getattr(pipe, "free_noise_enabled", False):
            pipe.disable_free_noise()

    @staticmethod
    def _encode(pipe: Any, texts: list[str], device: Any) -> Any:
        import torch

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

    def _initial_noise(self, n, lh, lw, seed, device, dtype, channels):
        import torch

        s = self.settings
        gen = torch.Generator("cpu").manual_seed(int(seed))
        first = min(n, s.context_length)
        noise = torch.randn((1, channels, first, lh, lw), generator=gen)
        if n > first:  # FreeNoise: later windows reuse the first window's noise, shuffled
            chunks = [noise]
            total = first
            while total < n:
                take = min(s.context_stride, n - total)
                perm = torch.randperm(first, generator=gen)[:take]
                chunks.append(noise[:, :, perm])
                total += take
            noise = torch.cat(chunks, dim=2)
        return noise.to(device=device, dtype=dtype)

    @staticmethod
    def _decode(vae: Any, latents: Any) -> np.ndarray:
        import torch

        frames = []
        z = latents[0].permute(1, 0, 2, 3) / vae.config.scaling_factor  # (frames, 4, h, w)
        for f in range(z.shape[0]):  # one frame at a time (VAE slicing)
            img = vae.decode(z[f : f + 1].to(vae.dtype)).sample
            img = ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            frames.append(img[0].permute(1, 2, 0).cpu().numpy())
        return np.stack(frames)

    # ------------------------------------------------------------------ Generator protocol
    def frames(self, request: RenderRequest) -> Iterator[np.ndarray]:
        """The generated frames at their true times in a video at ``request.fps``.

        Generated frame ``k`` of ``n`` shows time ``(k + 0.5) * duration / n`` (the centre of
        its stretch of the clip). A video frame between two generated frames blends them —
        unless an object's box moves by more than its own width or height between the two,
        where a blend would show it twice (a ghost): then the nearer frame is held. Frames are
        resized to the request's size when it differs from the generation size (a multiple
        of 8).
        """
        from PIL import Image

        width, height = request.size
        gw, gh = max(8, width // 8 * 8), max(8, height // 8 * 8)
        gen = self.generate(
            request.layout, width=gw, height=gh, seed=request.seed, progress=request.progress
        )
        t_gen = request.layout.frame_times(gen.shape[0])
        hold = _hold_between(request.layout, t_gen)
        for t in request.layout.frame_times(request.n_frames):
            frame = _frame_at(gen, t_gen, hold, float(t))
            if (gw, gh) != (width, height):
                frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.BICUBIC))
            yield np.ascontiguousarray(frame)


def _hold_between(layout: VSL, times: np.ndarray) -> np.ndarray:
    """For each pair of consecutive generated frames, whether an object moves by more than its
    own size between them (a blend would show it twice)."""
    if times.size < 2:
        return np.zeros(0, dtype=bool)
    hold = np.zeros(times.size - 1, dtype=bool)
    for boxes in layout.interpolate(times).values():
        b = np.asarray(boxes, dtype=np.float64)
        size = np.maximum(b[:-1, 2:] - b[:-1, :2], 1e-6)  # width, height at the earlier frame
        centre = (b[:, :2] + b[:, 2:]) / 2
        with np.errstate(invalid="ignore"):  # NaN where absent: appearing is no ghost
            hold |= (np.abs(np.diff(centre, axis=0)) > size).any(axis=1)
    return hold


def _frame_at(gen: np.ndarray, t_gen: np.ndarray, hold: np.ndarray, t: float) -> np.ndarray:
    """The video frame at time ``t``: the generated frames' blend, or the nearer one held."""
    pos = float(np.interp(t, t_gen, np.arange(t_gen.size)))
    lo = int(np.floor(pos))
    hi = min(lo + 1, t_gen.size - 1)
    a = pos - lo
    if a <= 0 or hi == lo:
        return gen[lo]
    if hold[lo]:
        return gen[hi] if a >= 0.5 else gen[lo]
    return ((1 - a) * gen[lo] + a * gen[hi] + 0.5).astype(np.uint8)

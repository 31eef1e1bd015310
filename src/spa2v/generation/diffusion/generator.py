"""Video diffusion steered by the layout, without training: AnimateDiff or Wan 2.1.

The denoising loop is spa2v's own (the components come from a diffusers pipeline) so that
the first K steps can move the latents down the layout energy's gradient
(:mod:`~spa2v.generation.diffusion.guidance`); every other step is a plain step of the
backbone's scheduler with classifier-free guidance. What differs between backbones — loading,
prompts, the model call, the recording hooks, the time axis of the latents, decoding — is in
one file each (:mod:`~spa2v.generation.diffusion.animatediff`,
:mod:`~spa2v.generation.diffusion.wan`); the backbone is read from the model folder's
``model_index.json`` unless ``diffusion.backbone`` names it.

The clip gets duration × ``gen_fps`` frames (Wan: rounded up to 4k + 1). Clips longer than
the backbone's context run in sliding windows over the whole denoiser (:func:`windows`), with
FreeNoise's shuffled initial noise, so memory does not grow with the clip; the generated
frames are placed at their true times in the video (:meth:`DiffusionGenerator.frames`).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spa2v.config import BACKBONE_DEFAULTS, DiffusionSettings
from spa2v.errors import ParameterError, Spa2vError
from spa2v.extras import require
from spa2v.generation.base import RenderRequest
from spa2v.layout.vsl import VSL
from spa2v.registry import settings_of

if TYPE_CHECKING:
    from spa2v.config import RunConfig

#: The backbones by name (``diffusion.backbone``): module and class, imported when used.
BACKBONES = {
    "animatediff": "spa2v.generation.diffusion.animatediff:AnimateDiff",
    "wan": "spa2v.generation.diffusion.wan:Wan",
}
#: ``model_index.json``'s ``_class_name`` → backbone (read without importing torch).
PIPELINES = {"StableDiffusionPipeline": "animatediff", "AnimateDiffPipeline": "animatediff",
             "WanPipeline": "wan"}  # fmt: skip


class DiffusionError(Spa2vError, RuntimeError):
    """The diffusion generator cannot run (weights that do not load, memory)."""


def _imports() -> tuple[Any, Any]:
    torch, diffusers, _ = require("diffusion", "the diffusion generator")
    return torch, diffusers


def load_error(what: str, ref: str, exc: Exception) -> DiffusionError:
    """The one message for weights that are on this machine but do not load."""
    return DiffusionError(
        f"cannot load the {what} {ref!r}: a diffusers folder with safetensors weights is "
        f"expected ({type(exc).__name__})"
    )


def place(pipe: Any, denoiser: Any, settings: DiffusionSettings, device: str) -> Any:
    """A loaded pipeline ready to run: no gradients in its weights, on ``device`` or offloaded
    to the CPU, checkpointing in the denoiser's guided passes and VAE tiling as asked."""
    for module in (denoiser, pipe.vae, pipe.text_encoder):
        module.requires_grad_(False)
    if settings.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if settings.gradient_checkpointing:
        denoiser.enable_gradient_checkpointing()
    if settings.vae_tiling:
        pipe.vae.enable_tiling()
    return pipe


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a model folder's config file (None when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def backbone_class(name: str) -> Any:
    """The backbone class registered as ``name`` in :data:`BACKBONES`."""
    module, cls = BACKBONES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def detect_backbone(folder: str, ref: str, asked: str | None = None) -> str:
    """The backbone of a model folder, from its ``model_index.json``.

    Raises
    ------
    DiffusionError
        For a folder without a readable index, or a pipeline that no backbone loads (naming
        it).
    """
    index = Path(folder) / "model_index.json"
    if not index.is_file():
        raise DiffusionError(f"the model {ref!r} is not a diffusers pipeline folder (it has no "
                             "model_index.json file)")  # fmt: skip
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DiffusionError(f"cannot read the model {ref!r}: {index} is not JSON") from None
    name = data.get("_class_name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise DiffusionError(f"cannot read the model {ref!r}: {index} names no pipeline class "
                             "(_class_name)")  # fmt: skip
    if name not in PIPELINES:
        raise DiffusionError(
            f"the model {ref!r} is a {name}: the diffusion generator takes a Stable Diffusion "
            "1.5 pipeline (backbone animatediff) or a Wan 2.1 text-to-video pipeline "
            "(backbone wan)"
        )
    if asked and asked != PIPELINES[name]:
        raise DiffusionError(f"the model {ref!r} is a {PIPELINES[name]} pipeline, but "
                             f"diffusion.backbone is {asked}")  # fmt: skip
    second = data.get("transformer_2") or [None]
    if data.get("boundary_ratio") is not None or data.get("expand_timesteps") or second[0]:
        # Wan 2.2: two experts switched by noise level (A14B), or a 16x VAE with per-token
        # timesteps (TI2V-5B); the wan backbone drives neither
        raise DiffusionError(f"the model {ref!r} is a Wan 2.2 pipeline: the wan backbone "
                             "takes Wan 2.1 text-to-video models (e.g. "
                             f"{BACKBONE_DEFAULTS['wan']['model']})")  # fmt: skip
    return PIPELINES[name]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No progress bars from diffusers and transformers while loading: spa2v shows its own."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = [(m, m.is_progress_bar_enabled()) for m in (diffusers_logging, transformers_logging)]
    for module, _ in was:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module, enabled in was:
            if enabled:
                module.enable_progress_bar()


def _ranges(names: list[str]) -> str:
    """``blocks.0`` … ``blocks.29`` written as ``blocks.0-29``; other names as they are."""
    groups: dict[str, list[int]] = {}
    out = []
    for name in names:
        head, _, tail = name.rpartition(".")
        if head and tail.isdigit():
            groups.setdefault(head, []).append(int(tail))
        else:
            out.append(name)
    for head, numbers in groups.items():
        numbers.sort()
        if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
            out.append(f"{head}.{numbers[0]}-{numbers[-1]}")
        else:
            out.extend(f"{head}.{k}" for k in numbers)
    return ", ".join(out)


def windows(n: int, length: int, stride: int) -> list[tuple[int, int]]:
    """Sliding windows ``(start, stop)`` over ``n`` (latent) frames: ``length`` frames every
    ``stride``, the last one ending at the last frame; one window when the clip fits in one.

    The denoiser (spatial and temporal layers alike) sees one window at a time and the
    noise predictions of overlapping windows are averaged, each weighted down towards its
    window's edges; with FreeNoise's shuffled initial noise (see :meth:`_initial_noise`)
    this is FreeNoise's sliding-window scheme applied to the whole denoiser, so that neither
    the activations nor the guided backward pass grow with the clip.
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


def _columns(tokens: list[dict[int, list[int]]]) -> int | None:
    """Text tokens to keep in the maps: up to the last name token."""
    last = [i for frame in tokens for positions in frame.values() for i in positions]
    return max(last) + 1 if last else None


class DiffusionGenerator:
    """``--generator diffusion``: AnimateDiff or Wan 2.1 with training-free layout guidance.

    Parameters
    ----------
    settings : DiffusionSettings or None
        Options (backbone, model paths, frames, steps, guidance…); those left unset take
        the backbone's defaults (:data:`spa2v.config.BACKBONE_DEFAULTS`).
    pipeline : object or None
        A ready ``AnimateDiffPipeline`` or ``WanPipeline`` (tests); loaded from ``settings``
        otherwise.
    """

    name = "diffusion"

    def __init__(self, settings: DiffusionSettings | None = None, pipeline: Any = None) -> None:
        self.settings = settings or DiffusionSettings()
        self._pipe = pipeline
        self._folders: dict[str, str] | None = None
        self._backbone: str | None = None
        self.last_energy: float | None = None
        self.energies: list[float] = []
        #: cross-attention layers guided (or measured) in the last generation
        self.guided_layers: list[str] = []
        #: per object name, the share of its attention inside its box at the last step
        self.adherence: dict[str, float] = {}
        self.n_generated: int | None = None
        self.n_windows: int | None = None
        #: the distinct prompts of the last generation
        self.prompts: list[str] = []
        #: whether the last generation was guided (guidance on and some steps to guide)
        self.guided = False

    @classmethod
    def from_config(cls, config: RunConfig | None = None) -> DiffusionGenerator:
        """The generator for a run's configuration (its ``diffusion`` section)."""
        return cls(settings_of(config, "diffusion"))

    # ------------------------------------------------------------------ loading
    def preflight(self) -> None:
        """Fail early, before any other work: the extra is installed, the weights are on this
        machine (a local folder, or a hub id in the local cache; nothing is downloaded), the
        backbone is known (``diffusion.backbone`` or the model's ``model_index.json``, which
        must agree), its window options fit it, and the device exists."""
        from spa2v.weights import resolve_weights

        _imports()
        s = self.settings
        if self._pipe is None and self.device().startswith("cuda"):
            torch, _ = _imports()
            if not torch.cuda.is_available():
                raise DiffusionError("diffusion.device is cuda, but no CUDA GPU is available")
        if self._pipe is None:
            ref, folder = self._model_folder()
            folders = {"model": folder}
            name = detect_backbone(folders["model"], ref, s.backbone)
            if name == "animatediff":
                folders["motion adapter"] = resolve_weights(s.motion_adapter, "motion adapter")
            self._folders, self._backbone = folders, name
        options = s.for_backbone(self._chosen())  # the windows fit the backbone
        if self._folders is not None:
            self._check_layers(options.guidance_layers or [])

    def _check_layers(self, prefixes: list[str]) -> None:
        """Every ``guidance_layers`` entry names blocks of the model (read from its config
        files, before any weights load)."""
        valid = self.backbone.layer_names(self._folders["model"])
        if valid is None:
            return
        wrong = [p for p in prefixes  # a block, or a finer name inside one
                 if not any(v == p or v.startswith(p + ".") or p.startswith(v + ".")
                            for v in valid)]  # fmt: skip
        if wrong:
            raise ParameterError(
                f"diffusion.guidance_layers {','.join(wrong)}: the model has no such block "
                f"with text cross-attention; its blocks are {_ranges(valid)}"
            )

    def _model_folder(self) -> tuple[str, str]:
        """The model asked for and its folder on this machine. Neither a model nor a backbone
        given: AnimateDiff's default model, else Wan's when only that one is here."""
        from spa2v.weights import WeightsNotFoundError, resolve_weights

        s = self.settings
        if s.model or s.backbone:
            ref = s.model or BACKBONE_DEFAULTS[s.backbone]["model"]
            return ref, resolve_weights(ref, "model")
        first = BACKBONE_DEFAULTS["animatediff"]["model"]
        try:
            folder = resolve_weights(first, "model")
            resolve_weights(s.motion_adapter, "motion adapter")  # AnimateDiff needs both
            return first, folder
        except WeightsNotFoundError as exc:
            second = BACKBONE_DEFAULTS["wan"]["model"]
            try:
                return second, resolve_weights(second, "model")
            except WeightsNotFoundError:
                raise WeightsNotFoundError(f"{exc} (or the Wan 2.1 model {second!r} with "
                                           "diffusion.backbone wan)") from None  # fmt: skip

    def _chosen(self) -> str:
        """The backbone's name: found by :meth:`preflight`, or that of the given pipeline."""
        if self._backbone is None and self._pipe is not None:
            found = PIPELINES.get(type(self._pipe).__name__, "animatediff")
            if self.settings.backbone and self.settings.backbone != found:
                raise DiffusionError(f"the pipeline is a {found} pipeline, but "
                                     f"diffusion.backbone is {self.settings.backbone}")  # fmt: skip
            self._backbone = found
        if self._backbone is None and self.settings.backbone:
            return self.settings.backbone  # known without the weights; preflight checks them
        if self._backbone is None:
            self.preflight()
        assert self._backbone is not None
        return self._backbone

    @property
    def backbone(self) -> Any:
        """The backbone class (:data:`BACKBONES`) of this generator's model."""
        return backbone_class(self._chosen())

    @property
    def options(self) -> DiffusionSettings:
        """The settings with the backbone's defaults filled in."""
        return self.settings.for_backbone(self._chosen())

    def device(self) -> str:
        torch, _ = _imports()
        if self.settings.device:
            return self.settings.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def pipeline(self) -> Any:
        """The backbone's pipeline (loaded on first use)."""
        if self._pipe is not None:
            return self._pipe
        if self._folders is None:
            self.preflight()
        assert self._folders is not None
        torch, _ = _imports()
        s, bb = self.options, self.backbone
        device = self.device()
        dtype = bb.half() if (s.fp16 and device.startswith("cuda")) else torch.float32
        with _quiet_loading():
            pipe = bb.load(self._folders, s, dtype)
        self._pipe = self._prepare(pipe, device)
        return self._pipe

    def _prepare(self, pipe: Any, device: str) -> Any:
        """Make a loaded pipeline ready: scheduler, no gradients, device or offload,
        checkpointing and tiling as the settings say."""
        self._pipe = pipe
        self._backbone = None  # read again from the pipeline
        return self.backbone.prepare(pipe, self.options, device)

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
        duration (Wan: rounded up to 4k + 1), at the centres of equal stretches of the clip.
        Longer than one context: the denoiser runs on sliding windows (see :func:`windows`),
        so memory does not grow with the clip. With ``measure_energy`` (the default) the
        last step's attention gives the layout energy (:attr:`last_energy`) and each
        object's share of attention inside its box (:attr:`adherence`).
        """
        torch, _ = _imports()
        from spa2v.generation.diffusion import guidance

        s, bb = self.options, self.backbone
        if width % bb.size_multiple or height % bb.size_multiple:
            raise ParameterError(f"the {bb.name} backbone needs a width and height divisible "
                                 f"by {bb.size_multiple}")  # fmt: skip
        pipe = self.pipeline()
        device = pipe._execution_device
        n = bb.frame_count(s.generated_frames(layout.duration))
        n_latent = bb.latent_frames(n)
        times = bb.latent_times(layout, n)
        context = bb.latent_frames(s.context_length)
        stride = max(1, s.context_stride // bb.time_compression)
        spans = windows(n_latent, context, stride)
        cond = bb.conditioning(pipe, layout, times, s, device, spans)

        store = guidance.AttentionStore()
        guide = s.layout_guidance and s.guided_steps > 0
        self.guided = guide
        recording = (bb.hooks(pipe, s.guidance_layers, store) if guide or measure_energy
                     else contextlib.nullcontext([]))  # fmt: skip
        scheduler = bb.scheduler_for(pipe, s.guided_steps if guide else 0)
        factor = bb.spatial_factor(pipe)
        lh, lw = height // factor, width // factor
        latents = self._initial_noise(n_latent, (lh, lw), seed, device, bb.channels(pipe),
                                      (context, stride))  # fmt: skip
        latents = latents * getattr(scheduler, "init_noise_sigma", 1.0)
        boxes = {oid: torch.tensor(b, dtype=torch.float32, device=device)
                 for oid, b in layout.interpolate(times).items()}  # fmt: skip
        scheduler.set_timesteps(s.steps, device=device)
        self.energies = []
        self.last_energy = None
        self.adherence = {}
        self.n_generated, self.n_windows = n, len(spans)
        counts = Counter(o.name for o in layout.objects)
        names = {o.id: o.name if counts[o.name] == 1 else f"{o.name} #{o.id}"
                 for o in layout.objects}  # fmt: skip
        # the model's own attention processors are back when the block ends, even on an error
        with recording as self.guided_layers:
            oom = getattr(torch.cuda, "OutOfMemoryError", MemoryError)
            try:
                for i, t in enumerate(scheduler.timesteps):
                    if guide and i < s.guided_steps:
                        step = s.guidance_scale * bb.noise_level(scheduler, i, t)
                        for _ in range(s.guidance_iterations):
                            grad, energy = self._guidance_grad(s, bb, pipe, latents, t, cond,
                                                               store, (lh, lw), boxes)  # fmt: skip
                            self.energies.append(energy)
                            latents = (latents - step * grad).detach()
                    last = i == len(scheduler.timesteps) - 1
                    with torch.no_grad():
                        noise = self._predict(s, bb, pipe, latents, t, cond, spans, store,
                                              measure=(measure_energy and last, (lh, lw), boxes,
                                                       names))  # fmt: skip
                        latents = scheduler.step(noise, t, latents).prev_sample
                    if progress is not None:
                        progress(i + 1, len(scheduler.timesteps))
                with torch.no_grad():
                    frames = bb.decode(pipe, latents)
            except oom:
                raise DiffusionError(
                    "out of GPU memory: try diffusion.cpu_offload, "
                    "diffusion.gradient_checkpointing, diffusion.vae_tiling, a lower "
                    "diffusion.gen_fps, a shorter diffusion.context_length, a smaller "
                    "planning.width and planning.height, fewer diffusion.guidance_layers, "
                    "or no diffusion.layout_guidance"
                ) from None
        self.prompts = cond.prompts()
        return frames

    def _predict(self, s, bb, pipe, latents, t, cond, spans, store, measure):
        """The classifier-free-guided noise of all frames, window by window (``s``, ``bb``:
        the resolved settings and the backbone, from :meth:`generate`).

        Overlapping windows' predictions are averaged with :func:`_window_weights`. With
        ``measure[0]`` the windows' attention gives :attr:`last_energy` and :attr:`adherence`.
        """
        import torch

        from spa2v.generation.diffusion import guidance

        active, latent_hw, boxes, names = measure
        n = latents.shape[2]
        # accumulated in float32: a sum of weighted half-precision predictions loses ~1e-3
        noise = torch.zeros_like(latents, dtype=torch.float32)
        weight = torch.zeros(n, device=latents.device, dtype=torch.float32)
        energy, shares = 0.0, {}
        for a, b in spans:
            c, u, tokens = cond.window(a, b)
            store.active, store.keep_last_half = active, True
            store.frames, store.columns = b - a, _columns(tokens)
            x = torch.cat([latents[:, :, a:b]] * 2)
            n_uncond, n_cond = bb.predict(pipe, x, t, torch.cat([u, c])).chunk(2)
            store.active = False
            if active:
                part = {k: v[a:b] for k, v in boxes.items()}
                e = guidance.layout_energy(store.maps, latent_hw, tokens, part,
                                           topk=s.guidance_topk, fg_weight=s.fg_weight,
                                           bg_weight=s.bg_weight)  # fmt: skip
                energy += (b - a) * float(e)
                found = guidance.box_shares(store.maps, latent_hw, tokens, part)
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
        return noise / weight[None, None, :, None, None]

    def report(self) -> dict[str, Any]:
        """What the last generation did, for ``run.json`` and the run's summary."""
        return {
            "backbone": self._backbone,
            "generated_frames": self.n_generated,
            "windows": self.n_windows,
            "prompts": self.prompts,
            "layout_guidance": self.guided,
            "guided_layers": len(self.guided_layers),
            "layout_energy": None if self.last_energy is None else round(self.last_energy, 4),
            "attention_in_box": {k: round(v, 4) for k, v in self.adherence.items()},
        }

    def _guidance_grad(self, s, bb, pipe, latents, t, cond, store, latent_hw, boxes):
        """Gradient of the layout energy with respect to the latents, and the energy.

        The frames are guided in equal groups of at most ``guidance_chunk`` (default: one
        context length; the temporal layers see only the group): activation memory of the
        backward pass stays that of one group, at the cost of an approximate gradient across
        groups.
        """
        import torch

        from spa2v.generation.diffusion import guidance

        n = latents.shape[2]
        # groups of at most one context (so memory does not grow with the clip), of equal
        # size: no short tail group whose frames the temporal layers would see nearly alone
        chunk = bb.latent_frames(s.guidance_chunk or s.context_length)
        groups = -(-n // chunk)
        bounds = [round(k * n / groups) for k in range(groups + 1)]
        grads, total = [], 0.0
        for a, b in itertools.pairwise(bounds):
            c, _, tokens = cond.window(a, b)
            part = latents[:, :, a:b].detach().requires_grad_(True)
            store.active, store.keep_last_half = True, False
            store.frames, store.columns = b - a, _columns(tokens)
            # recording stays on through the backward pass: gradient checkpointing runs each
            # block's forward pass again there, and it must take the same path
            with torch.enable_grad():
                bb.predict(pipe, part, t, c)
                energy = guidance.layout_energy(
                    store.maps, latent_hw, tokens, {k: v[a:b] for k, v in boxes.items()},
                    topk=s.guidance_topk, fg_weight=s.fg_weight, bg_weight=s.bg_weight,
                )  # fmt: skip
                (g,) = torch.autograd.grad(energy.float() * (b - a) / n, part)
            store.active = False
            store.clear()
            grads.append(g)
            total += float(energy.detach()) * (b - a) / n
        return torch.cat(grads, dim=2), total

    @staticmethod
    def _initial_noise(n, latent_hw, seed, device, channels, context):
        """Gaussian latents, float32; FreeNoise: later windows reuse the first window's noise,
        shuffled (``context`` = window length and stride, in latent frames)."""
        import torch

        length, stride = context
        gen = torch.Generator("cpu").manual_seed(int(seed))
        first = min(n, length)
        noise = torch.randn((1, channels, first, *latent_hw), generator=gen)
        if n > first:
            chunks = [noise]
            total = first
            while total < n:
                take = min(stride, n - total)
                perm = torch.randperm(first, generator=gen)[:take]
                chunks.append(noise[:, :, perm])
                total += take
            noise = torch.cat(chunks, dim=2)
        return noise.to(device=device)

    # ------------------------------------------------------------------ Generator protocol
    def frames(self, request: RenderRequest) -> Iterator[np.ndarray]:
        """The generated frames at their true times in a video at ``request.fps``.

        Generated frame ``k`` of ``n`` shows time ``(k + 0.5) * duration / n`` (the centre of
        its stretch of the clip). A video frame between two generated frames blends them —
        unless an object's box moves by more than its own width or height between the two,
        where a blend would show it twice (a ghost): then the nearer frame is held. Frames are
        resized to the request's size when it differs from the generation size (a multiple
        of 8, or 16 for Wan).
        """
        from PIL import Image

        width, height = request.size
        m = self.backbone.size_multiple
        gw, gh = max(m, width // m * m), max(m, height // m * m)
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

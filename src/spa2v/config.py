"""The run configuration: every option of a run, declared once.

:class:`RunConfig` is a tree of six sections — ``analysis``, ``planning``, ``llm``,
``tagging``, ``render`` and ``diffusion``. Each option's name, type, default, range and help
text are written here and nowhere else; the command line's options, the Python API's keyword
arguments, batch manifest rows, the web app's advanced options, config files and the
``config`` record of ``run.json`` are all made from this tree.

One name per option: a field's name is the same in every front end, and its command-line
flag is the name with dashes (``fov_deg`` → ``--fov-deg``). Field names are unique across the
sections, so an option can be given flat (``{"steps": 10}``) or nested by section
(``{"diffusion": {"steps": 10}}``).

A config file is TOML or JSON with one table per section::

    [planning]
    labels = ["cow", "helicopter"]

    [render]
    fps = 12

A ``run.json`` written by ``spa2v run`` is a config file too (its ``config`` record). Relative
paths in a file are relative to the file's folder. Errors name fields as ``section.field``;
the command line words them as flags.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spa2v.errors import ParameterError, Spa2vError

#: The ``schema`` of the ``run.json`` that this version writes and reads as a config.
RUN_SCHEMA = "spa2v.run/2"
#: Most sources tracked and drawn.
MAX_SOURCES = 3
#: Most frames the diffusion generator makes for one clip (they are decoded into memory).
MAX_GENERATED_FRAMES = 4096
#: Largest seed accepted (what fits every backend, torch included).
MAX_SEED = 2**32 - 1
#: Denoising steps guided unless said otherwise (all of them when there are fewer).
DEFAULT_GUIDANCE_STEPS = 5
#: The hub ids the model backends load from this machine unless told otherwise.
DEFAULT_DIFFUSION_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-2"
DEFAULT_WAN_MODEL = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
#: Cross-attention layers whose maps are guided (LVD: down_blocks.1/2 and up_blocks.1/2).
DEFAULT_LAYERS = ("down_blocks.1", "down_blocks.2", "up_blocks.1", "up_blocks.2")

#: The diffusion backbones and what their unset options default to. ``context_length`` and
#: ``context_stride`` count generated frames; Wan's VAE packs 4 frames into a latent frame
#: after the first (81 frames = 21 latent frames, its native length at 16 frames/s), so its
#: windows are 4k + 1 frames long and move by multiples of 4.
BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "animatediff": {"model": DEFAULT_DIFFUSION_MODEL, "guidance_layers": list(DEFAULT_LAYERS),
                    "gen_fps": 8.0, "context_length": 16, "context_stride": 4,
                    "gradient_checkpointing": False, "cfg_scale": 7.5},
    # every transformer block's text cross-attention; checkpointing on: a guided pass at
    # 480x832x81 keeps ~75 GB of activations without it, a few GB with it
    "wan": {"model": DEFAULT_WAN_MODEL, "guidance_layers": ["blocks"], "gen_fps": 16.0,
            "context_length": 81, "context_stride": 40, "gradient_checkpointing": True,
            "cfg_scale": 5.0},
}  # fmt: skip


#: Cue lock modes of the LLM planners (:mod:`spa2v.planning.llm.cuelock`).
Trust = Literal["blend", "cues", "llm"]


class ConfigError(ParameterError):
    """Invalid configuration; the message names fields as ``section.field``.

    ``in_file`` is set when the error is in a config file: the command line then keeps the
    file's names instead of wording them as flags.
    """

    def __init__(self, message: str, *, in_file: bool = False) -> None:
        super().__init__(message)
        self.in_file = in_file


class Section(BaseModel):
    """A section of :class:`RunConfig` (frozen; unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    #: Heading in ``--help`` and in ``spa2v config``.
    title: ClassVar[str] = ""
    #: The section's name in :class:`RunConfig`.
    key: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _none(cls, data: Any) -> Any:
        """``"none"`` unsets a field that may be unset (TOML and the command line have no
        null); text fields keep it as text."""
        if isinstance(data, dict):
            for name, value in data.items():
                info = cls.model_fields.get(name)
                if (
                    isinstance(value, str)
                    and value.lower() == "none"
                    and info is not None
                    and _nullable(info.annotation)
                    and not _texty(info.annotation)
                ):
                    data = {**data, name: None}
        return data

    if not TYPE_CHECKING:  # type checkers see each section's own typed fields

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:  # built directly: the same words as in a RunConfig
                raise ConfigError(validation_message(exc, self.key)) from None


#: The fields that name a backend, and the registry of each (:mod:`spa2v.registry`).
REGISTRIES = {"planner": "PLANNERS", "generator": "GENERATORS", "tagger": "TAGGERS"}


def choices(name: str) -> list[Any] | None:
    """The values field ``name`` allows when they are a list (backend names, a Literal's
    values); None for an open field."""
    if name in REGISTRIES:
        from spa2v import registry

        return list(getattr(registry, REGISTRIES[name]).names())
    annotation = SECTIONS[FIELDS[name]].model_fields[name].annotation
    for kind in (annotation, *get_args(annotation)):  # Literal[...] or Literal[...] | None
        if get_origin(kind) is Literal:
            return list(get_args(kind))
    return None


def _registered(value: str, name: str) -> str:
    names = choices(name) or []
    if value not in names:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(names)}")
    return value


def _nullable(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


def _texty(annotation: Any) -> bool:
    return str in get_args(annotation) or annotation is str


def _split_commas(value: Any) -> Any:
    """``"a,b"`` or ``["a,b", "c"]`` → ``["a", "b", "c"]`` (how the command line gives lists)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        return [p.strip() for v in value for p in str(v).split(",") if p.strip()]
    return value


class AnalysisSettings(Section):
    """How the recording is read and measured."""

    title: ClassVar[str] = "Analysis"
    key: ClassVar[str] = "analysis"

    sr: int | None = Field(48_000, description="Analysis sample rate, Hz (none: the file's "
                           "own).")  # fmt: skip
    channels: tuple[int, int] | None = Field(
        None, description="Left,right channel indices for files with more than two channels."
    )
    hop_s: float = Field(0.02, gt=0.0, le=1.0, description="Hop between analysis frames, s.")
    max_delay_ms: float = Field(1.0, gt=0.0, le=20.0, description="ITD search range, ±ms.")

    @field_validator("sr")
    @classmethod
    def _rate(cls, value: int | None) -> int | None:
        from spa2v.audio.load import check_sample_rate

        try:
            return None if value is None else check_sample_rate(value, what="analysis rate")
        except Spa2vError as exc:  # the loader's words, as a field error
            raise ValueError(str(exc)) from None

    @field_validator("channels", mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = _split_commas(value)
            if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
                raise ValueError(f"expects two channel indices like 0,1 (left,right), "
                                 f"got {value!r}")  # fmt: skip
            return tuple(int(p) for p in parts)
        return value

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (min(value) < 0 or value[0] == value[1]):
            raise ValueError("expects two different channel indices ≥ 0")
        return value


class PlanningSettings(Section):
    """What the layout holds: the planner, the objects' names, keyframes, the camera."""

    title: ClassVar[str] = "Planning"
    key: ClassVar[str] = "planning"

    planner: str = Field("cues", description="cues (offline, default), naive (baseline), gemini "
                         "or openai (language models given the measured cues; "
                         "pip install 'spa2v[llm]').")  # fmt: skip
    labels: list[str] = Field(default_factory=list,
                              description="Object names, one per source from left to right "
                              "(at most three); naming them also gives the number of "
                              "sources.")  # fmt: skip
    sources: int | None = Field(None, description="Number of sources (1-3) when known; default "
                                "one per label, otherwise counted from the audio.",
                                json_schema_extra={"minimum": 1,
                                                   "maximum": MAX_SOURCES})  # fmt: skip
    keyframes: int | None = Field(None, ge=1, le=1000, description="Number of keyframes "
                                  "(default: the keyframe rate's, at least 4).")  # fmt: skip
    keyframe_rate: float = Field(2.0, ge=0.05, le=30.0, description="Keyframes per second.")
    fov_deg: float = Field(90.0, description="Horizontal field of view of the camera, degrees "
                           "(10-170).")  # fmt: skip
    width: int = Field(512, description="Video width in pixels (even, 16-8192).")
    height: int = Field(320, description="Video height in pixels (even, 16-8192).")

    @field_validator("planner")
    @classmethod
    def _planner(cls, value: str) -> str:
        return _registered(value, "planner")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_SOURCES:
            raise ValueError(f"at most three sources are tracked; {len(value)} labels given")
        for label in value:
            if not label.strip() or len(label) > 80:
                raise ValueError(f"labels must be 1–80 characters, got {label!r}")
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_SOURCES:
            raise ValueError(f"must be 1-3 (at most three are tracked), got {value}")
        return value

    @field_validator("fov_deg")
    @classmethod
    def _fov(cls, value: float) -> float:
        from spa2v.layout.camera import Camera

        Camera(fov_deg=value)  # the camera model's own range
        return value

    @field_validator("width", "height")
    @classmethod
    def _size(cls, value: int, info: Any) -> int:
        from spa2v.media.video import check_video_size

        check_video_size(**{"width": 512, "height": 320, info.field_name: value})
        return value

    @model_validator(mode="after")
    def _count(self) -> PlanningSettings:
        if self.labels and self.sources is not None and len(self.labels) != self.sources:
            raise ValueError(f"{len(self.labels)} label(s) given for planning.sources "
                             f"{self.sources}")  # fmt: skip
        return self

    @property
    def known_sources(self) -> int | None:
        """The number of sources the user vouches for: ``sources``, else one per label."""
        return self.sources if self.sources is not None else (len(self.labels) or None)


class LLMSettings(Section):
    """The language-model planners (``planner`` gemini or openai)."""

    title: ClassVar[str] = "LLM planners (gemini, openai)"
    key: ClassVar[str] = "llm"

    llm_model: str | None = Field(None, description="Model name (gemini-2.0-flash, gpt-4o-mini "
                                  "by default).")  # fmt: skip
    base_url: str | None = Field(None, description="Server URL of an OpenAI-compatible server "
                                 "(vLLM, Ollama, llama.cpp, LM Studio) or a proxy; default "
                                 "OPENAI_BASE_URL or the provider's.")  # fmt: skip
    temperature: float = Field(0.5, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_seed: int | None = Field(0, description="Sampling seed, where the backend supports it.")
    examples: list[Path] = Field(default_factory=list, description="Folders of your own "
                                 "in-context examples (*.jsonl, or recordings with a "
                                 "NAME.layout.json).")  # fmt: skip
    n_examples: int = Field(3, ge=0, le=20, description="In-context examples retrieved per "
                            "request (0 = none).")  # fmt: skip
    builtin_examples: bool = Field(True, description="Also use the examples shipped with "
                                   "spa2v.")  # fmt: skip
    trust: Trust = Field("blend", description="Cue lock: blend (fix "
                                                   "boxes that contradict strong cues), cues "
                                                   "(positions from the cues) or llm (the "
                                                   "model's boxes as they are).")  # fmt: skip
    send_audio: bool | None = Field(None, description="Attach the recording (mono) so the "
                                    "model can tell what sounds (default: gemini yes, openai "
                                    "no).")  # fmt: skip
    timeout_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="Time limit of one model call, s."
    )
    attempts: int = Field(4, ge=1, le=10, description="Calls per request before giving up on "
                          "transient errors.")  # fmt: skip
    cache: bool = Field(True, description="Reuse cached answers for the same request.")
    cache_dir: Path | None = Field(None, description="Answer cache folder (default "
                                   "$SPA2V_CACHE_DIR/llm or ~/.cache/spa2v/llm).")  # fmt: skip
    prompt: Path | None = Field(None, description="Another prompt template file.")
    json_mode: Literal["schema", "object", "none"] = Field(
        "schema", description="Structured output of OpenAI-compatible servers."
    )


class TaggingSettings(Section):
    """Sound recognition per tracked source."""

    title: ClassVar[str] = "Tagging"
    key: ClassVar[str] = "tagging"

    tagger: str = Field("none", description="none (names from labels), ast or clap "
                        "(pip install 'spa2v[tagging]').")  # fmt: skip
    tagger_model: str | None = Field(None, description="Tagger model: local folder or hub id "
                                     "on this machine (defaults: MIT/ast-finetuned-audioset-"
                                     "10-10-0.4593, laion/clap-htsat-unfused).")  # fmt: skip
    vocabulary: Path | None = Field(None, description="CLAP vocabulary file (one drawable name "
                                    "per line).")  # fmt: skip

    @field_validator("tagger")
    @classmethod
    def _tagger(cls, value: str) -> str:
        return _registered(value, "tagger")


class RenderSettings(Section):
    """The video: generator, frame rate, seed."""

    title: ClassVar[str] = "Rendering"
    key: ClassVar[str] = "render"

    generator: str = Field("animatic", description="animatic (embedded storyboard renderer, "
                           "default) or diffusion (AnimateDiff or Wan 2.1 with layout "
                           "guidance; pip install 'spa2v[diffusion]').")  # fmt: skip
    fps: float = Field(24.0, description="Frames per second (1-120).")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seed of the generator's random "
                      "choices (0 … 2**32-1).")  # fmt: skip
    overlay: bool = Field(False, description="Also draw boxes, ids and frame captions "
                          "(spa2v run: video_overlay.mp4 besides video.mp4).")  # fmt: skip
    judge: Literal["none", "owlv2", "grounding-dino"] = Field(
        "none", description="spa2v run: judge the video — detect each object by its name "
        "(open vocabulary) in sampled frames and compare with the layout; numbers in "
        "run.json, frames in judge.png (pip install 'spa2v[detection]').")  # fmt: skip
    detector_model: str | None = Field(None, description="Judge's detector: local folder or "
                                       "hub id on this machine (defaults: google/owlv2-base-"
                                       "patch16-ensemble, IDEA-Research/grounding-dino-"
                                       "tiny).")  # fmt: skip
    judge_samples: int = Field(8, ge=1, le=256, description="Frames the judge looks at.")

    @field_validator("generator")
    @classmethod
    def _generator(cls, value: str) -> str:
        return _registered(value, "generator")

    @field_validator("fps")
    @classmethod
    def _fps(cls, value: float) -> float:
        from spa2v.media.video import check_fps

        return check_fps(value)


def default_stride(backbone: str, length: int) -> int:
    """The window stride when none is given: the backbone's default, or about half of a
    shorter window (a multiple of 4 frames for wan, at least one step)."""
    step = 4 if backbone == "wan" else 1
    half = (length - 1) // 2 // step * step if backbone == "wan" else length // 2
    return min(BACKBONE_DEFAULTS[backbone]["context_stride"], max(step, half))


class DiffusionSettings(Section):
    """The diffusion generator (``generator`` diffusion)."""

    title: ClassVar[str] = "Diffusion generator (--generator diffusion)"
    key: ClassVar[str] = "diffusion"

    backbone: Literal["animatediff", "wan"] | None = Field(
        None, description="animatediff (Stable Diffusion 1.5 + AnimateDiff) or wan (Wan 2.1 "
        "text-to-video); default: read from the model folder's model_index.json, animatediff "
        "when no model is given.")  # fmt: skip
    model: str | None = Field(None, description="Pipeline weights, a local folder or hub id "
                              "on this machine (safetensors only); default: the backbone's "
                              f"({DEFAULT_DIFFUSION_MODEL} or {DEFAULT_WAN_MODEL}).")  # fmt: skip
    motion_adapter: str = Field(DEFAULT_MOTION_ADAPTER, description="AnimateDiff motion "
                                "adapter: local folder or hub id (animatediff only).")  # fmt: skip
    gen_fps: float | None = Field(
        None, gt=0.0, le=60.0, allow_inf_nan=False,
        description="Frames generated per second of the clip (its duration × this, rounded); "
        "default: the backbone's rate, 8 for animatediff, 16 for wan.",
    )  # fmt: skip
    frames: int | None = Field(
        None, ge=1, le=MAX_GENERATED_FRAMES,
        description="Frames generated, whatever the clip's length (default: from gen_fps; wan "
        "rounds up to 4k + 1, down at the limit); more than one context length: sliding "
        "windows.",
    )  # fmt: skip
    steps: int = Field(25, ge=1, le=500, description="Denoising steps.")
    cfg_scale: float | None = Field(
        None, ge=0.0, allow_inf_nan=False,
        description="Classifier-free guidance scale (default: 7.5 for animatediff, 5 for wan).",
    )  # fmt: skip
    negative_prompt: str = Field(
        "blurry, low quality, distorted, deformed, watermark, text",
        description="What the video should not look like.",
    )
    device: str | None = Field(None, description="A torch device: cuda, cuda:1, cpu… (default: "
                               "cuda when available).")  # fmt: skip
    fp16: bool = Field(True, description="Half precision on CUDA: float16 for animatediff, "
                       "bfloat16 for wan (ignored on the CPU).")  # fmt: skip
    captions: Literal["global", "local", "mix"] = Field(
        "mix",
        description="Prompts: the global caption, the keyframes' captions, or both "
        "(per frame for animatediff; per window, the keyframes told in order, for wan).",
    )
    layout_guidance: bool = Field(True, description="Steer the latents towards the boxes "
                                  "(training-free).")  # fmt: skip
    guidance_layers: list[str] | None = Field(None, min_length=1, description="Blocks "
                                              "whose text cross-attention is guided "
                                              "(comma-separated); default: "
                                              f"{','.join(DEFAULT_LAYERS)} (animatediff), "
                                              "blocks, i.e. all (wan).")  # fmt: skip
    guidance_steps: int | None = Field(None, ge=0, description="First K steps guided (default: "
                                       f"{DEFAULT_GUIDANCE_STEPS}, or all steps if "
                                       "fewer).")  # fmt: skip
    guidance_iterations: int = Field(
        1, ge=1, le=20, description="Gradient updates per guided step."
    )
    guidance_scale: float = Field(5.0, ge=0.0, allow_inf_nan=False,
                                  description="Step size of the latent update.")  # fmt: skip
    guidance_topk: float = Field(0.5, gt=0.0, le=1.0, allow_inf_nan=False,
                                 description="Top-k fraction of pixels in the energy.")  # fmt: skip
    fg_weight: float = Field(1.0, ge=0.0, allow_inf_nan=False,
                             description="Weight of the inside-the-box term.")  # fmt: skip
    bg_weight: float = Field(3.0, ge=0.0, allow_inf_nan=False,
                             description="Weight of the outside-the-box term.")  # fmt: skip
    context_length: int | None = Field(None, ge=2, le=MAX_GENERATED_FRAMES,
                                       description="Sliding window, frames (default: the "
                                       "backbone's native length, 16 for animatediff, 81 for "
                                       "wan).")  # fmt: skip
    context_stride: int | None = Field(None, ge=1, description="Sliding window stride, frames "
                                       "(default: 4 for animatediff, 40 for wan; at most half "
                                       "of a shorter window).")  # fmt: skip
    cpu_offload: bool = Field(False, description="Model CPU offload (less GPU memory, "
                              "slower).")  # fmt: skip
    gradient_checkpointing: bool | None = Field(None, description="Gradient checkpointing in "
                                                "the guided passes (less memory, slower); "
                                                "default: off for animatediff, on for "
                                                "wan.")  # fmt: skip
    vae_tiling: bool = Field(False, description="Decode the video in tiles (less GPU memory "
                             "at large sizes).")  # fmt: skip
    guidance_chunk: int = Field(0, ge=0, description="Guide the frames in groups of at most "
                                "this many (0 = one context length): less memory, approximate "
                                "gradient across groups.")  # fmt: skip

    @field_validator("guidance_layers", mode="before")
    @classmethod
    def _layers(cls, value: Any) -> Any:
        return _split_commas(value)

    @model_validator(mode="after")
    def _steps(self) -> DiffusionSettings:
        if self.guidance_steps is not None and self.guidance_steps > self.steps:
            raise ValueError(f"diffusion.guidance_steps must be within 0 … diffusion.steps "
                             f"({self.steps}), got {self.guidance_steps}")  # fmt: skip
        if self.backbone is not None:
            self.check_windows(self.backbone)
        elif self.context_length is not None:  # the backbone is known later: given vs given
            if self.context_stride is not None and self.context_stride > self.context_length:
                raise ValueError("diffusion.context_stride must be at most "
                                 "diffusion.context_length")  # fmt: skip
            if self.guidance_chunk > self.context_length:
                raise ValueError("diffusion.guidance_chunk must be at most "
                                 "diffusion.context_length")  # fmt: skip
        return self

    def check_windows(self, backbone: str) -> None:
        """Check the sliding-window options against each other and the backbone (its own
        defaults filling the unset ones).

        Raises
        ------
        ValueError
            When the stride or the guidance groups exceed the window, or (wan) the window is
            not 4k + 1 frames or the stride not a multiple of 4.
        """
        length = self.context_length or BACKBONE_DEFAULTS[backbone]["context_length"]
        stride = self.context_stride or default_stride(backbone, length)
        if backbone == "animatediff" and length > 64:
            raise ValueError(f"with the animatediff backbone, diffusion.context_length must be "
                             f"at most 64 frames (its motion modules' reach), got "
                             f"{length}")  # fmt: skip
        if backbone == "wan" and (length - 1) % 4:
            raise ValueError(f"with the wan backbone, diffusion.context_length must be 4k + 1 "
                             f"frames (its VAE packs 4 frames into one latent frame after the "
                             f"first), got {length}")  # fmt: skip
        if backbone == "wan" and stride % 4:
            raise ValueError(f"with the wan backbone, diffusion.context_stride must be a "
                             f"multiple of 4 frames (one latent frame), got {stride}")  # fmt: skip
        if stride > length:
            raise ValueError(f"diffusion.context_stride ({stride}) must be at most "
                             f"diffusion.context_length ({length})")  # fmt: skip
        if self.guidance_chunk > length:
            raise ValueError(f"diffusion.guidance_chunk ({self.guidance_chunk}) must be at "
                             f"most diffusion.context_length ({length})")  # fmt: skip

    def for_backbone(self, backbone: str) -> DiffusionSettings:
        """These settings with every unset option given the backbone's default
        (:data:`BACKBONE_DEFAULTS`).

        Raises
        ------
        ParameterError
            When the windows do not fit the backbone (see :meth:`check_windows`).
        """
        try:
            self.check_windows(backbone)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
        filled = {k: v for k, v in BACKBONE_DEFAULTS[backbone].items() if getattr(self, k) is None}
        if self.context_stride is None:
            filled["context_stride"] = default_stride(
                backbone, self.context_length or BACKBONE_DEFAULTS[backbone]["context_length"]
            )
        return self.model_copy(update={"backbone": backbone, **filled})

    def generated_frames(self, duration_s: float) -> int:
        """Frames generated for a clip: ``frames`` when given, else duration × ``gen_fps``
        rounded half up.

        Raises
        ------
        ParameterError
            When that is more than :data:`MAX_GENERATED_FRAMES` (they are held in memory).
        """
        if self.frames is not None:
            return self.frames
        fps = self.gen_fps or BACKBONE_DEFAULTS[self.backbone or "animatediff"]["gen_fps"]
        n = max(1, math.floor(duration_s * fps + 0.5))
        if n > MAX_GENERATED_FRAMES:
            raise ParameterError(
                f"a {duration_s:g} s clip at diffusion.gen_fps {fps:g} would take {n} "
                f"generated frames, more than {MAX_GENERATED_FRAMES}: lower diffusion.gen_fps "
                "or set diffusion.frames"
            )
        return n

    @property
    def guided_steps(self) -> int:
        """The steps guided: ``guidance_steps``, or by default 5 (all when fewer)."""
        if self.guidance_steps is not None:
            return self.guidance_steps
        return min(DEFAULT_GUIDANCE_STEPS, self.steps)


class RunConfig(BaseModel):
    """Every option of a run, by section.

    Attributes
    ----------
    analysis : AnalysisSettings
    planning : PlanningSettings
    llm : LLMSettings
    tagging : TaggingSettings
    render : RenderSettings
    diffusion : DiffusionSettings

    Examples
    --------
    >>> cfg = RunConfig.build({"labels": ["cow"], "render": {"fps": 12}})
    >>> cfg.planning.labels, cfg.render.fps
    (['cow'], 12.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    planning: PlanningSettings = Field(default_factory=PlanningSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tagging: TaggingSettings = Field(default_factory=TaggingSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    diffusion: DiffusionSettings = Field(default_factory=DiffusionSettings)

    @classmethod
    def build(cls, *layers: Mapping[str, Any] | RunConfig | None, **options: Any) -> RunConfig:
        """A configuration from layers of options, later layers winning.

        Each layer is a :class:`RunConfig` or a mapping of options, flat (``{"fps": 12}``)
        or nested by section (``{"render": {"fps": 12}}``); a section may also be given as
        its settings object (``{"diffusion": DiffusionSettings(...)}``). Keyword options
        are the last layer.

        Raises
        ------
        ConfigError
            For an unknown name or an invalid value, naming each field.
        """
        given = [
            layer
            for layer in (*layers, options)  # None and {} add nothing
            if layer is not None and not (isinstance(layer, Mapping) and not layer)
        ]
        if len(given) == 1 and isinstance(given[0], RunConfig):
            return given[0]  # already validated (frozen): passed on as it is
        data: dict[str, dict[str, Any]] = {}
        for layer in given:
            for section, values in by_section(layer).items():
                data.setdefault(section, {}).update(values)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc)) from None

    def record(self) -> dict[str, dict[str, Any]]:
        """Every field by section, as JSON values, paths absolute: what ``run.json`` records
        (so the record works as a config file from any folder)."""
        data = self.model_dump(mode="json")
        for values in data.values():
            for name, value in values.items():
                if name in PATH_FIELDS and value:
                    values[name] = _absolute(value)
                elif name in WEIGHTS_FIELDS and value and _is_folder_ref(value):
                    values[name] = _absolute(value)
        return data

    def given(self) -> dict[str, dict[str, Any]]:
        """The options set explicitly (not left at their default), by section."""
        return by_section(self)

    def to_toml(self, sources: Mapping[str, str] | None = None) -> str:
        """The whole configuration as a TOML config file.

        Unset values (None) are written as comments; ``sources`` maps field names to where
        their value came from, written as a comment after each.
        """
        lines = ["# spa2v run configuration (use it with --config FILE)"]
        for section in SECTIONS:
            block: Section = getattr(self, section)
            lines += ["", f"[{section}]  # {block.title}"]
            for name, info in type(block).model_fields.items():
                value = getattr(block, name)
                note = f"  # {sources[name]}" if sources and name in sources else ""
                if value is None and info.get_default(call_default_factory=True) is None:
                    unset = "not set"
                    if section == "diffusion" and name in BACKBONE_DEFAULTS["wan"]:
                        chosen = self.diffusion.backbone
                        unset += ": the backbone's, " + ", ".join(
                            f"{b} {_toml_value(d[name])}"
                            for b, d in BACKBONE_DEFAULTS.items()
                            if chosen in (None, b)
                        )
                    lines.append(f"# {name} =  ({unset}){note}")
                elif value is None:  # unset where the default is not: TOML has no null
                    lines.append(f'{name} = "none"{note}')
                else:
                    if name in PATH_FIELDS or (name in WEIGHTS_FIELDS and _is_folder_ref(value)):
                        value = _absolute(value)  # the file may be read from anywhere
                    lines.append(f"{name} = {_toml_value(value)}{note}")
        return "\n".join(lines) + "\n"


#: The sections of :class:`RunConfig`, in order.
SECTIONS: dict[str, type[Section]] = {
    "analysis": AnalysisSettings,
    "planning": PlanningSettings,
    "llm": LLMSettings,
    "tagging": TaggingSettings,
    "render": RenderSettings,
    "diffusion": DiffusionSettings,
}
#: The section of every field name.
FIELDS: dict[str, str] = {name: section for section, cls in SECTIONS.items()
                          for name in cls.model_fields}  # fmt: skip
assert len(FIELDS) == sum(len(c.model_fields) for c in SECTIONS.values()), "field names clash"


def by_section(layer: Mapping[str, Any] | RunConfig | None) -> dict[str, dict[str, Any]]:
    """A layer of options as ``{section: {field: value}}`` (explicitly set fields only).

    Keys may be field names, section names (with a table of fields) or ``section.field``.

    Raises
    ------
    ConfigError
        For an unknown name (with the closest one), or a field given twice.
    """
    if layer is None:
        return {}
    if isinstance(layer, RunConfig):
        return {s: getattr(layer, s).model_dump(exclude_unset=True)
                for s in SECTIONS if getattr(layer, s).model_fields_set}  # fmt: skip
    if not isinstance(layer, Mapping):
        raise ConfigError(f"options must be a mapping, got {type(layer).__name__}")
    out: dict[str, dict[str, Any]] = {}
    unknown = []
    twice = []

    def put(section: str, name: str, value: Any) -> None:
        if name in out.get(section, {}):
            twice.append(f"{section}.{name}")
        out.setdefault(section, {})[name] = value

    for key, value in layer.items():
        if isinstance(key, str) and key.count(".") == 1 and key.split(".")[0] in SECTIONS:
            section, name = key.split(".")  # "render.seed": a CSV column, a dotted key
            if FIELDS.get(name) != section:
                unknown.append(key)
            put(section, name, value)
        elif key in SECTIONS:
            if isinstance(value, Section):
                value = value.model_dump(exclude_unset=True)
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: a section must be a table of options, got {value!r:.40}")
            for name, v in value.items():
                if FIELDS.get(name) != key:
                    unknown.append(f"{key}.{name}")
                put(key, name, v)
        elif key in FIELDS:
            put(FIELDS[key], key, value)
        else:
            unknown.append(str(key))
    if unknown:
        raise ConfigError("unknown option(s): " + ", ".join(unknown) + _did_you_mean(unknown))
    if twice:
        raise ConfigError("given twice (flat and in its section): " + ", ".join(twice))
    return out


def _did_you_mean(unknown: list[str]) -> str:
    import difflib

    hints = []
    for u in unknown:
        if "." not in u and (section := difflib.get_close_matches(u, list(SECTIONS), n=1)):
            hints.append(f"the section {section[0]}")
        elif close := difflib.get_close_matches(u.rsplit(".", 1)[-1], list(FIELDS), n=1):
            hints.append(f"{FIELDS[close[0]]}.{close[0]}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _toml_value(value: Any) -> str:
    """A TOML literal for the values a config holds (str, bool, numbers, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """One line for a pydantic error: ``field: reason`` for each problem (field names
    behind ``prefix``, e.g. the section's name)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *e.get("loc", ())) if p != "")
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        given = e.get("input")
        hide = e.get("type") in ("missing", "model_type", "value_error") or not loc
        shown = "" if hide else f" (got {given!r:.40})"
        if loc and (msg.startswith(loc) or (loc in SECTIONS and f"{loc}." in msg)):
            parts.append(f"{msg}{shown}")  # the message names the fields already
        else:
            parts.append(f"{loc}: {msg}{shown}" if loc else msg)
    return "; ".join(parts)


def _fields_of(kind: str) -> tuple[str, ...]:
    return tuple(name for name, section in FIELDS.items()
                 if kind in str(SECTIONS[section].model_fields[name].annotation))  # fmt: skip


#: Fields that hold paths: relative ones in a config file are relative to the file's folder.
PATH_FIELDS = _fields_of("Path")
#: Fields that hold model weights: a hub id, or a folder (then handled like a path field).
WEIGHTS_FIELDS = ("model", "motion_adapter", "tagger_model", "detector_model")
#: Fields that hold lists (``;``-separated in a CSV manifest, repeatable flags).
LIST_FIELDS = _fields_of("list[")


def loads_json(text: str) -> Any:
    """JSON that refuses a key given twice in one object (``json`` keeps the last silently).

    Raises
    ------
    ValueError
        For invalid JSON (a :class:`json.JSONDecodeError`) or a repeated key.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"key(s) given twice: {', '.join(twice)}")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def resolve_paths(nested: dict[str, dict[str, Any]], folder: Path) -> dict[str, dict[str, Any]]:
    """Options (nested by section) with their relative paths made relative to ``folder``
    (a config file's or a manifest's)."""

    def resolve(name: str, value: Any) -> Any:
        if value is None:
            return value
        if name in PATH_FIELDS:
            return _relative_to(value, folder)
        if name in WEIGHTS_FIELDS and isinstance(value, str) and _is_folder_ref(value, folder):
            return _relative_to(value, folder)
        return value

    return {section: {name: resolve(name, v) for name, v in values.items()}
            for section, values in nested.items()}  # fmt: skip


def _is_folder_ref(value: str, folder: Path | None = None) -> bool:
    """Whether a weights field names a folder (relative to ``folder``) rather than a hub id."""
    from spa2v.weights import looks_local

    if folder is not None and not Path(value).is_absolute() and (folder / value).exists():
        return True
    return looks_local(value)


def read_config(path: str | Path) -> dict[str, Any]:
    """The options of a TOML or JSON config file (or of a ``run.json``), nested by section.

    Relative paths in the file are made relative to the file's folder.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, or not a config.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    is_json = p.suffix.lower() == ".json"  # anything else is read as TOML
    try:
        doc: Any = loads_json(text) if is_json else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{p}: not valid {'JSON' if is_json else 'TOML'} ({exc})",
                          in_file=True) from None  # fmt: skip
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("spa2v.run/"):
        if doc["schema"] != RUN_SCHEMA or not isinstance(doc.get("config"), dict):
            raise ConfigError(f"{p}: a run record of another spa2v version ({doc['schema']}; "
                              f"this one reads {RUN_SCHEMA})", in_file=True)  # fmt: skip
        doc = doc["config"]  # a run.json: its record of the run's configuration
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: a config file holds a table of sections", in_file=True)
    try:
        nested = resolve_paths(by_section(doc), p.parent)
        RunConfig.build(nested)  # its values alone, so that an error names the file
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}", in_file=True) from None
    return nested


def _absolute(value: Any) -> Any:
    """A path field's value with its paths absolute."""
    if isinstance(value, list):
        return [str(Path(v).absolute()) for v in value]
    return str(Path(value).absolute())


def _relative_to(value: Any, folder: Path) -> Any:
    if isinstance(value, list):
        return [_relative_to(v, folder) for v in value]
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(folder / value)
    return value


def load_config(
    path: str | Path | Sequence[str | Path] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    given_as: str = "given",
) -> tuple[RunConfig, dict[str, str]]:
    """The effective configuration from a config file and overrides, and each value's source.

    Parameters
    ----------
    path : str or Path or sequence of them, or None
        TOML or JSON config file (or a ``run.json``); several are read in order, later
        files winning.
    overrides : mapping or None
        Options that win over the file's (flat or nested by section).
    given_as : str
        How to call the source of the overrides (``"command line"``).

    Returns
    -------
    (RunConfig, dict)
        The configuration, and for every field name where its value came from:
        ``"default"``, ``"file PATH"`` or ``given_as``.
    """
    paths = [] if path is None else [path] if isinstance(path, str | Path) else list(path)
    layers = [(read_config(p), f"file {p}") for p in paths]
    given = by_section(overrides)
    layers.append((given, given_as))
    cfg = RunConfig.build(*(layer for layer, _ in layers))
    sources = {name: "default" for name in FIELDS}
    for layer, label in layers:
        for values in layer.values():
            for name in values:
                sources[name] = label
    return cfg, sources


def pop_ready(options: dict[str, Any], key: str) -> Any:
    """Take out of ``options`` a backend given ready-made (``planner=MyPlanner()``) instead
    of by name; None when ``options[key]`` is a name or absent."""
    value = options.get(key)
    if value is None or isinstance(value, str):
        return None
    return options.pop(key)


def as_config(config: RunConfig | Mapping[str, Any] | str | Path | None,
              options: Mapping[str, Any] | None = None) -> RunConfig:  # fmt: skip
    """A :class:`RunConfig` from what the Python API accepts: a config, a mapping of
    options, a config file, or None (the defaults); ``options`` win over it."""
    if isinstance(config, str | Path):
        return RunConfig.build(read_config(config), options)
    return RunConfig.build(config, options)


__all__ = [
    "FIELDS",
    "SECTIONS",
    "AnalysisSettings",
    "ConfigError",
    "DiffusionSettings",
    "LLMSettings",
    "PlanningSettings",
    "RenderSettings",
    "RunConfig",
    "TaggingSettings",
    "as_config",
    "by_section",
    "choices",
    "load_config",
    "loads_json",
    "read_config",
    "resolve_paths",
    "validation_message",
]

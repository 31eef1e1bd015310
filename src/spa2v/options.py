"""The options of one run, checked in one place.

:class:`RunOptions` is the pydantic model that :func:`spa2v.run` validates its options with; a
batch manifest row is validated by :class:`ManifestRow`, the same model plus ``path`` and
``name``. So ``spa2v run --seed -1``, ``spa2v.run(..., seed=-1)`` and a row with ``"seed": -1``
are refused with the same words, naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from spa2v.errors import ParameterError

#: Largest seed accepted (NumPy's generators take 0 … 2**32 - 1 and more; this is what fits
#: every backend, torch included).
MAX_SEED = 2**32 - 1


def known_sources(labels: Sequence[str] = (), sources: int | None = None) -> int | None:
    """The number of sources the user vouches for: ``sources``, else one per label.

    Parameters
    ----------
    labels : sequence of str
        Object names, one per source.
    sources : int or None
        Explicit number of sources.

    Returns
    -------
    int or None
        1-3, or None when the audio should tell.

    Raises
    ------
    ParameterError
        For more than three sources, or labels and ``sources`` that disagree.
    """
    if sources is not None and not 1 <= sources <= 3:
        raise ParameterError(f"--sources must be 1-3 (at most three are tracked), got {sources}")
    if labels and sources is not None and len(labels) != sources:
        raise ParameterError(f"{len(labels)} label(s) given for --sources {sources}")
    if sources is not None:
        return sources
    if len(labels) > 3:
        raise ParameterError(f"at most three sources are tracked; {len(labels)} labels given")
    return len(labels) or None


class RunOptions(BaseModel):
    """Per-run options shared by ``spa2v run``, :func:`spa2v.run` and batch manifest rows.

    Each rule is the one the stage that uses the option applies (the frame rate's is
    :func:`spa2v.media.video.check_fps`, the planner names are the planner registry's…), so
    a value is refused here with the stage's own words, before any work.

    Attributes
    ----------
    labels : list of str
        Object names, one per source from left to right (at most three, 1–80 characters).
    sources : int or None
        Number of sources (1–3) when known; must agree with ``labels`` when both are given.
    planner : str
        A registered planner: ``cues``, ``naive``, ``gemini`` or ``openai``.
    generator : str
        A registered generator: ``animatic`` or ``diffusion``.
    keyframes : int or None
        Number of keyframes (1–1000); None: ``keyframe_rate`` per second, at least 4.
    keyframe_rate : float
        Keyframes per second (0.05–30).
    fov_deg : float
        Horizontal field of view of the camera model, degrees (10–170).
    width, height : int
        Video size in pixels: even, 16–8192.
    fps : float
        Frame rate, 1–120 frames/s.
    seed : int
        Seed of the generator's random choices, 0 … 2**32 - 1.
    overlay : bool
        Also write ``video_overlay.mp4``.
    tagger : str
        ``none``, ``ast`` or ``clap``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[str] = Field(default_factory=list)
    sources: int | None = None
    planner: str = "cues"
    generator: str = "animatic"
    keyframes: int | None = None
    keyframe_rate: float = 2.0
    fov_deg: float = 90.0
    width: int = 512
    height: int = 320
    fps: float = 24.0
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    overlay: bool = False
    tagger: str = "none"

    @field_validator("planner")
    @classmethod
    def _planner(cls, value: str) -> str:
        from spa2v.planning.base import planner_names

        if value not in planner_names():
            raise ValueError(f"unknown planner {value!r}; choose from {', '.join(planner_names())}")
        return value

    @field_validator("generator")
    @classmethod
    def _generator(cls, value: str) -> str:
        from spa2v.generation.base import GENERATORS

        if value not in GENERATORS:
            raise ValueError(
                f"unknown generator {value!r}; choose one of: {', '.join(sorted(GENERATORS))}"
            )
        return value

    @field_validator("tagger")
    @classmethod
    def _tagger(cls, value: str) -> str:
        from spa2v.tagging.base import TAGGERS

        if value not in TAGGERS:
            raise ValueError(f"unknown tagger {value!r}; choose one of: {', '.join(TAGGERS)}")
        return value

    @field_validator("fps")
    @classmethod
    def _fps(cls, value: float) -> float:
        from spa2v.media.video import check_fps

        return check_fps(value)

    @field_validator("width", "height")
    @classmethod
    def _size(cls, value: int, info: Any) -> int:
        from spa2v.media.video import check_video_size

        check_video_size(**{"width": 512, "height": 320, info.field_name: value})
        return value

    @field_validator("fov_deg")
    @classmethod
    def _fov(cls, value: float) -> float:
        from spa2v.layout.camera import Camera

        Camera(fov_deg=value)
        return value

    @model_validator(mode="after")
    def _plan_options(self) -> RunOptions:
        from spa2v.planning.base import PlanOptions

        known_sources(self.labels, self.sources)
        PlanOptions(labels=tuple(self.labels), keyframes=self.keyframes,
                    keyframe_rate=self.keyframe_rate, fov_deg=self.fov_deg,
                    width=self.width, height=self.height)  # fmt: skip
        return self


class ManifestRow(RunOptions):
    """One row of a batch manifest: a recording and the options that differ for it.

    ``path`` is relative to the manifest's own folder unless absolute; ``name`` names the
    item's output folder (default: the recording's file name without its suffix).
    """

    path: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)


def validation_message(exc: ValidationError) -> str:
    """One line for a pydantic error: ``field: reason`` for each problem."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        given = e.get("input")
        hide = e.get("type") in ("missing", "model_type", "value_error") or not loc
        shown = "" if hide else f" (got {given!r:.40})"
        parts.append(f"{loc}: {msg}{shown}" if loc else msg)
    return "; ".join(parts)


def check_options(**values: Any) -> RunOptions:
    """Validate run options; raise :class:`ParameterError` naming each bad field.

    Parameters
    ----------
    **values
        Fields of :class:`RunOptions`.

    Returns
    -------
    RunOptions
    """
    try:
        return RunOptions(**values)
    except ValidationError as exc:
        raise ParameterError(validation_message(exc)) from None

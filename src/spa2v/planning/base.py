"""What every planner is: cue sheet (+ audio) in, Video Scene Layout out.

Planners are chosen by name (``--planner``); adding one is adding a module that registers a
class here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from spa2v.errors import ParameterError

if TYPE_CHECKING:
    from spa2v.audio.cues import CueSheet
    from spa2v.audio.load import Audio
    from spa2v.layout.vsl import VSL


@dataclass(frozen=True)
class PlanOptions:
    """Settings shared by all planners.

    Attributes
    ----------
    labels : tuple of str
        Object names, one per source from left to right; missing ones are "sound source".
    keyframes : int or None
        Number of keyframes; ``None`` uses ``keyframe_rate`` (at least 4).
    keyframe_rate : float
        Keyframes per second when ``keyframes`` is None.
    fov_deg : float
        Horizontal field of view of the camera model, degrees.
    width, height : int
        Video size in pixels.
    tags : tuple of SourceTag
        What a tagger recognised per tracked source (names for the sources the labels leave
        unnamed; their confidence goes into the reasoning and the LLM prompt).
    """

    labels: tuple[str, ...] = ()
    keyframes: int | None = None
    keyframe_rate: float = 2.0
    fov_deg: float = 90.0
    width: int = 512
    height: int = 320
    tags: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.keyframes is not None and not 1 <= self.keyframes <= 1000:
            raise ParameterError(f"keyframes must be within 1 … 1000, got {self.keyframes}")
        if not 0.05 <= self.keyframe_rate <= 30:
            raise ParameterError("keyframe rate must be within 0.05 … 30 per second")
        if not 16 <= self.width <= 8192 or not 16 <= self.height <= 8192:
            raise ParameterError("width and height must be within 16 … 8192 pixels")
        for label in self.labels:
            if not label.strip() or len(label) > 80:
                raise ParameterError(f"labels must be 1–80 characters, got {label!r}")

    def name_of(self, k: int) -> str:
        """Name of source ``k``: its label, else its recognised name, else "sound source"."""
        if k < len(self.labels):
            return self.labels[k]
        tag = next((t for t in self.tags if getattr(t, "source", None) == k), None)
        return tag.name if tag is not None and tag.name else "sound source"

    def tag_note(self) -> str:
        """One sentence on what was recognised (empty without tags)."""
        parts = [
            f"S{t.source} {t.name} ({t.confidence:.2f}, {t.label!r})" for t in self.tags if t.name
        ]
        if not parts:
            return ""
        return f"Recognised by the {self.tags[0].tagger} tagger: " + "; ".join(parts) + "."

    def keyframe_times(self, duration_s: float) -> list[float]:
        """Centres of equal stretches covering the clip."""
        n = self.keyframes or max(4, round(self.keyframe_rate * duration_s))
        return [round((i + 0.5) * duration_s / n, 4) for i in range(n)]


class Planner(Protocol):
    """Turns measured cues (and optionally the audio) into a layout."""

    name: str
    #: whether :meth:`plan` needs the decoded audio besides the cue sheet
    needs_audio: bool

    def plan(self, cues: CueSheet, audio: Audio | None, options: PlanOptions) -> VSL:
        """Return a valid VSL for the recording."""
        ...


_REGISTRY: dict[str, Callable[[], Planner]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a planner available under ``name``."""

    def wrap(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return wrap


#: Planners registered when first asked for (their modules pull in more than the others).
_LAZY = {"gemini": "spa2v.planning.llm.planner", "openai": "spa2v.planning.llm.planner"}


def _register_all(name: str | None = None) -> None:
    """Import the planner modules (they register themselves); the LLM ones only for ``name``."""
    import importlib

    from spa2v.planning import heuristic, naive  # noqa: F401  (registration)

    if name in _LAZY:
        importlib.import_module(_LAZY[name])


def get_planner(name: str, llm: Any = None) -> Planner:
    """The planner registered as ``name``.

    Parameters
    ----------
    name : str
        ``cues``, ``naive``, ``gemini`` or ``openai``.
    llm : LLMSettings or None
        Settings of the LLM planners (ignored by the others).
    """
    _register_all(name)
    if name not in _REGISTRY:
        raise ParameterError(f"unknown planner {name!r}; choose from {', '.join(planner_names())}")
    factory = _REGISTRY[name]
    return factory(llm) if getattr(factory, "takes_settings", False) else factory()


def planner_names() -> list[str]:
    """Names of the available planners."""
    _register_all()
    return sorted(set(_REGISTRY) | set(_LAZY))

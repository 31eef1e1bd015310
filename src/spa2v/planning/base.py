"""What every planner is: cue sheet (+ audio) in, Video Scene Layout out.

Planners are chosen by name (``--planner``); adding one is adding a module that registers a
class here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from spa2v.config import PlanningSettings
from spa2v.registry import PLANNERS

if TYPE_CHECKING:
    from spa2v.audio.cues import CueSheet
    from spa2v.audio.load import Audio
    from spa2v.config import RunConfig
    from spa2v.layout.vsl import VSL


class PlanOptions(PlanningSettings):
    """What a planner is given besides the cues: the planning section of the run's
    configuration (:class:`~spa2v.config.PlanningSettings`), plus what a tagger recognised.

    Attributes
    ----------
    tags : tuple of SourceTag
        What a tagger recognised per tracked source (names for the sources the labels leave
        unnamed; their confidence goes into the reasoning and the LLM prompt).
    """

    tags: tuple[Any, ...] = ()

    def name_of(self, k: int) -> str:
        """Name of source ``k``: its label, else its recognised name, else "sound source"."""
        return self.labels[k] if k < len(self.labels) else self.recognised(k)

    def recognised(self, k: int) -> str:
        """What a tagger recognised for source ``k``, else "sound source"."""
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

    def preflight(self) -> None:
        """Check, before any work, what the planner needs here (its SDK, an API key)."""
        ...

    def plan(self, cues: CueSheet, audio: Audio | None, options: PlanOptions) -> VSL:
        """Return a valid VSL for the recording."""
        ...


def get_planner(name: str, config: RunConfig | None = None) -> Planner:
    """The planner registered as ``name``, built for ``config`` (None: the defaults).

    Parameters
    ----------
    name : str
        ``cues``, ``naive``, ``gemini`` or ``openai``.
    config : RunConfig or None
        The run's configuration (the LLM planners read its ``llm`` section).
    """
    return PLANNERS.get(name, config)


def planner_names() -> list[str]:
    """Names of the available planners."""
    return PLANNERS.names()

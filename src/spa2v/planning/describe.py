"""Words for what the cues say: motion categories, captions and the cited reasoning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal[
    "static", "left_to_right", "right_to_left", "approaching", "receding", "passing"
]

#: Loudness change (dB, last vs first third) that means approaching / receding.
TREND_DB = 6.0


@dataclass(frozen=True)
class SourceStory:
    """What one source does, in the terms captions use."""

    name: str
    behaviour: Behaviour
    side_start: str
    side_end: str
    side: str

    @property
    def moving_sideways(self) -> bool:
        return self.behaviour in ("left_to_right", "right_to_left", "passing")


def article(name: str) -> str:
    """``"a car"`` / ``"an owl"``; names that are already plural or have a determiner pass.

    A trailing ``s`` counts as plural (``"birds"``) except in ``-ss``, ``-us`` and ``-is``
    (``"glass"``, ``"bus"``, ``"ibis"``).
    """
    lower = name.lower()
    if lower.startswith(("a ", "an ", "the ", "some ")) or is_plural(name):
        return name
    return ("an " if lower[:1] in "aeiou" else "a ") + name


def is_plural(name: str) -> bool:
    """Whether a name reads as plural (``"birds"``, ``"footsteps"``), as :func:`article` judges."""
    lower = name.lower()
    return lower.endswith("s") and not lower.endswith(("ss", "us", "is"))


def _verb(name: str, singular: str, plural: str) -> str:
    return plural if is_plural(name) else singular


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def where(side: str) -> str:
    """Phrase for a side of the frame."""
    return {"left": "on the left", "right": "on the right",
            "unknown": "(not localised)"}.get(side, "in the centre")  # fmt: skip


def classify(
    *,
    motion: str,
    loudness_change_db: float,
    loudest_fraction: float,
    pitch_change_st: float,
) -> Behaviour:
    """Behaviour of a source from its cue summary.

    A pass-by is a sideways motion whose loudness peaks inside the clip (not at an end) and
    whose pitch drops (Doppler); a sideways motion without those is a plain crossing;
    otherwise a clear loudness trend means approaching or receding.
    """
    sideways = motion in ("left_to_right", "right_to_left")
    if sideways and 0.2 <= loudest_fraction <= 0.8 and pitch_change_st < -0.2:
        return "passing"
    if sideways:
        return motion  # type: ignore[return-value]
    if loudness_change_db >= TREND_DB:
        return "approaching"
    if loudness_change_db <= -TREND_DB:
        return "receding"
    return "static"


def global_caption(stories: list[SourceStory]) -> str:
    """One sentence for the whole clip."""
    parts = []
    for s in stories:
        a = article(s.name)
        match s.behaviour:
            case "static":
                parts.append(f"{a} {_verb(s.name, 'is', 'are')} {where(s.side)}")
            case "left_to_right":
                parts.append(f"{a} {_verb(s.name, 'moves', 'move')} from the left to the right")
            case "right_to_left":
                parts.append(f"{a} {_verb(s.name, 'moves', 'move')} from the right to the left")
            case "passing":
                parts.append(
                    f"{a} {_verb(s.name, 'passes', 'pass')} by from the {s.side_start} "
                    f"to the {s.side_end}"
                )
            case "approaching":
                parts.append(f"{a} {_verb(s.name, 'approaches', 'approach')} {where(s.side)}")
            case "receding":
                parts.append(f"{a} {_verb(s.name, 'moves', 'move')} away {where(s.side)}")
    if len(parts) == 1:
        text = parts[0]
    elif len(parts) == 2:
        text = f"{parts[0]} while {parts[1]}"
    else:
        text = ", ".join(parts[:-1]) + f" and {parts[-1]}"
    return _cap(text) + "."


def frame_caption(stories: list[SourceStory], sides: list[str], sizes: list[str]) -> str:
    """One sentence for a keyframe: where each object is and what it is doing now."""
    parts = []
    for s, side, size in zip(stories, sides, sizes, strict=True):
        doing = {
            "static": "",
            "left_to_right": ", moving right",
            "right_to_left": ", moving left",
            "passing": ", passing by",
            "approaching": ", coming closer",
            "receding": ", moving away",
        }[s.behaviour]
        parts.append(f"the {s.name} {where(side)}{size}{doing}")
    if not parts:  # before the first source is heard
        return "Nothing is heard yet."
    return _cap("; ".join(parts)) + "."


def sized(d_rel: float) -> str:
    """Distance words for a relative distance."""
    if d_rel >= 4.0:
        return ", far away"
    if d_rel <= 1.5:
        return ", close"
    return ""

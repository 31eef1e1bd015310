"""Build the conversation sent to a language model from the template file ``prompt.md``."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from spa2v.errors import ParameterError

#: The template shipped with the package.
DEFAULT_TEMPLATE = "prompt.md"
_SECTIONS = ("system", "user", "retry")


@dataclass(frozen=True)
class PromptTemplate:
    """The three sections of a prompt template."""

    system: Template
    user: Template
    retry: Template
    source: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> PromptTemplate:
        """Read a template file (default: the one shipped with spa2v).

        Raises
        ------
        ParameterError
            When the file is missing or lacks one of the sections.
        """
        if path is None:
            text = (resources.files("spa2v.planning.llm") / DEFAULT_TEMPLATE).read_text("utf-8")
            source = f"spa2v/planning/llm/{DEFAULT_TEMPLATE}"
        else:
            p = Path(path)
            if not p.is_file():
                raise ParameterError(f"{p}: prompt template not found")
            text, source = p.read_text(encoding="utf-8"), str(p)
        text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
        parts = re.split(r"^=== *(\w+) *=== *$", text, flags=re.M)
        found = {parts[i].strip(): parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
        missing = [s for s in _SECTIONS if s not in found]
        if missing:
            raise ParameterError(
                f"{source}: prompt template lacks section(s) {', '.join(missing)} "
                "(lines like '=== system ===')"
            )
        return cls(*(Template(found[s]) for s in _SECTIONS), source=source)


def _x_of(az_deg: float, fov: float) -> float:
    u = math.tan(math.radians(az_deg)) / math.tan(math.radians(fov) / 2)
    return 0.5 - 0.47 * math.tanh(u)


def system_text(template: PromptTemplate, *, fov_deg: float, horizon: float) -> str:
    """The system instruction with the camera model's numbers filled in."""
    return template.system.safe_substitute(
        fov=f"{fov_deg:g}",
        half_fov=f"{fov_deg / 2:g} deg",
        horizon=f"{horizon:.2f}",
        x_left45=f"{_x_of(45, fov_deg):.2f}",
        x_right45=f"{_x_of(-45, fov_deg):.2f}",
    )


def user_text(
    template: PromptTemplate,
    *,
    cues: str,
    times: list[float],
    duration: float,
    width: int,
    height: int,
    labels: tuple[str, ...] = (),
    with_audio: bool = False,
    tags: tuple = (),
) -> str:
    """One request: cue text, frame size, keyframe times, names, recognised sounds, audio note."""
    if labels:
        names = (
            "The user names the objects, one per source from left to right: "
            + ", ".join(labels)
            + ". Use exactly these names."
        )
    else:
        names = (
            "Name each object after what it most likely is (something that can be seen, such "
            "as 'car', 'dog' or 'person'); use 'sound source' if you cannot tell."
        )
    audio_note = (
        "The recording is attached (mixed to mono): use it to recognise what is sounding, "
        "not where it is."
        if with_audio
        else ""
    )
    heard = [f"S{t.source}: {t.name} ({t.confidence:.2f})" for t in tags if t.name]
    tag_line = (
        "A sound classifier recognised (a guess, with its confidence): " + ", ".join(heard) + "."
        if heard
        else ""
    )
    return template.user.safe_substitute(
        tags=tag_line,
        cues=cues,
        times=", ".join(f"{t:g}" for t in times),
        duration=f"{duration:g}",
        width=width,
        height=height,
        names=names,
        audio_note=audio_note,
    ).strip()


def retry_text(template: PromptTemplate, errors: str) -> str:
    """The follow-up message after an invalid answer."""
    return template.retry.safe_substitute(errors=errors).strip()


def answer_json(answer: dict[str, Any]) -> str:
    """An in-context example's answer as the model should write it (compact JSON)."""
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False)


def output_schema() -> dict[str, Any]:
    """JSON Schema of the answer requested from the model (structured output).

    Self-contained (no ``$ref``), as the providers' structured-output modes expect.
    """
    box = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "caption": {"type": "string"},
            "objects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "source": {"type": "integer"},
                    },
                    "required": ["id", "name"],
                },
            },
            "keyframes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "time": {"type": "number"},
                        "caption": {"type": "string"},
                        "boxes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "integer"}, "box": box},
                                "required": ["id", "box"],
                            },
                        },
                    },
                    "required": ["time", "caption", "boxes"],
                },
            },
        },
        "required": ["reasoning", "caption", "objects", "keyframes"],
    }

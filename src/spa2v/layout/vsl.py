"""The Video Scene Layout (VSL), version 1: the contract between planning and generation.

A VSL says what is in the video (objects), where each one is over time (keyframes with one box
per visible object) and what the video and each keyframe show (captions). Its JSON Schema is
generated from these models (``spa2v schema``).

Conventions
-----------
* Boxes are ``[x0, y0, x1, y1]`` normalised to [0, 1], origin top-left, ``x0 < x1``,
  ``y0 < y1``.
* A sound on the listener's left is on the left of the frame (small x).
* Times are seconds; keyframe times increase (by at least 1 ms) and lie within
  ``[0, duration]``.
* An object absent from a keyframe is not visible at that time.

Extra fields are kept (a planner may record its own notes) but may not change the meaning of
the fields defined here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from spa2v.errors import Spa2vError

SCHEMA_ID = "spa2v.vsl/1"
#: Smallest spacing of keyframes; closer ones would make the interpolation blow up.
MIN_KEYFRAME_GAP_S = 1e-3


class LayoutError(Spa2vError, ValueError):
    """A layout file or object is not a valid VSL."""


def _check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    for name, v in zip(("x0", "y0", "x1", "y1"), box, strict=True):
        if not math.isfinite(v):
            raise ValueError(f"{name} is not a finite number")
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v:g} is outside [0, 1] (boxes are normalised)")
    if not x0 < x1:
        raise ValueError(f"x0={x0:g} must be less than x1={x1:g}")
    if not y0 < y1:
        raise ValueError(f"y0={y0:g} must be less than y1={y1:g}")
    return box


Box = Annotated[tuple[float, float, float, float], AfterValidator(_check_box)]
Name = Annotated[str, Field(min_length=1, max_length=80)]


class VSLObject(BaseModel):
    """Something that is shown; its id is stable across keyframes."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: int = Field(ge=0, description="Identifier used by the keyframes' boxes.")
    name: Name = Field(description="What the object is, e.g. 'helicopter'.")

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name is blank")
        return v


class BoxPlacement(BaseModel):
    """Where one object is in one keyframe."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: int = Field(ge=0, description="Id of the object.")
    box: Box = Field(description="[x0, y0, x1, y1], normalised, origin top-left.")


class Keyframe(BaseModel):
    """The layout at one moment."""

    model_config = ConfigDict(extra="allow", frozen=True)

    time: float = Field(ge=0.0, allow_inf_nan=False, description="Seconds from the start.")
    caption: str = Field("", max_length=1000, description="What this moment shows.")
    boxes: list[BoxPlacement] = Field(description="Boxes of the objects visible now.")

    @field_validator("boxes")
    @classmethod
    def _unique_ids(cls, boxes: list[BoxPlacement]) -> list[BoxPlacement]:
        ids = [b.id for b in boxes]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"object id(s) {sorted(dup)} appear more than once")
        return boxes


class VSL(BaseModel):
    """A Video Scene Layout.

    Examples
    --------
    >>> vsl = VSL(duration=2.0, caption="A cow.", objects=[{"id": 0, "name": "cow"}],
    ...           keyframes=[{"time": 0.5, "boxes": [{"id": 0, "box": [0.1, 0.4, 0.3, 0.8]}]}])
    >>> vsl.objects[0].name
    'cow'
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    schema_id: Literal["spa2v.vsl/1"] = Field(SCHEMA_ID, alias="schema")
    duration: float = Field(gt=0.0, allow_inf_nan=False, description="Length in seconds.")
    width: int = Field(512, ge=16, le=8192, description="Intended video width in pixels.")
    height: int = Field(320, ge=16, le=8192, description="Intended video height in pixels.")
    caption: str = Field(max_length=2000, description="Global caption of the video.")
    reasoning: str = Field("", max_length=20_000, description="Why the layout is so.")
    objects: list[VSLObject] = Field(min_length=1, description="The objects.")
    keyframes: list[Keyframe] = Field(min_length=1, description="Keyframes in time order.")

    @model_validator(mode="after")
    def _consistent(self) -> VSL:
        ids = [o.id for o in self.objects]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"objects: id(s) {sorted(dup)} are used by more than one object")
        known = set(ids)
        last = -math.inf
        for k, kf in enumerate(self.keyframes):
            if kf.time < last + MIN_KEYFRAME_GAP_S:
                raise ValueError(
                    f"keyframes[{k}].time={kf.time:g} must be greater than the previous "
                    f"keyframe's {last:g} (times increase by at least 1 ms)"
                )
            if kf.time > self.duration + 1e-9:
                raise ValueError(
                    f"keyframes[{k}].time={kf.time:g} is after the end (duration={self.duration:g})"
                )
            last = kf.time
            for b, placement in enumerate(kf.boxes):
                if placement.id not in known:
                    raise ValueError(
                        f"keyframes[{k}].boxes[{b}].id={placement.id} names no object "
                        f"(object ids: {sorted(known)})"
                    )
        return self

    # ------------------------------------------------------------------ I/O
    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialise to JSON text."""
        return self.model_dump_json(by_alias=True, indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write the layout as JSON, atomically."""
        from spa2v.media.files import atomic_write_text

        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "layout") -> VSL:
        """Parse and validate JSON text; raise :class:`LayoutError` naming every problem."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LayoutError(f"{source}: not valid JSON ({exc})") from None
        return cls.parse_obj_strict(data, source=source)

    @classmethod
    def parse_obj_strict(cls, data: Any, *, source: str = "layout") -> VSL:
        """Validate a decoded JSON value; raise :class:`LayoutError` naming every problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise LayoutError(f"{source}: invalid layout: {describe_errors(exc)}") from None

    @classmethod
    def load(cls, path: str | Path) -> VSL:
        """Read and validate a layout file."""
        p = Path(path)
        if not p.exists():
            raise LayoutError(f"{p}: no such file")
        if p.is_dir():
            raise LayoutError(f"{p}: is a directory, not a layout file")
        return cls.from_json(p.read_bytes(), source=str(p))

    # ------------------------------------------------------------------ geometry
    def object_ids(self) -> list[int]:
        """Ids of the objects, in declaration order."""
        return [o.id for o in self.objects]

    def frame_times(self, n_frames: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Times of video frames ``start … stop - 1`` of ``n_frames`` spread over the duration.

        Frames sit at the centres of ``n_frames`` equal stretches; ``start``/``stop`` select a
        block of them (default: all), so a long video can be handled a block at a time.
        """
        if n_frames < 1:
            raise LayoutError("n_frames must be at least 1")
        stop = n_frames if stop is None else stop
        return (np.arange(start, stop) + 0.5) * (self.duration / n_frames)

    def interpolate(self, times: np.ndarray | int) -> dict[int, np.ndarray]:
        """Boxes of every object at the given times.

        Box centres and sizes are interpolated with a monotone cubic (PCHIP) between the
        keyframes where the object is visible, so motion is smooth and never overshoots the
        keyframes (hence never leaves the frame). Before its first and after its last
        keyframe an object keeps its nearest box; between two keyframes where it is absent,
        or across a keyframe where it is absent, it is not visible.

        Parameters
        ----------
        times : np.ndarray or int
            Times in seconds, or a number of video frames (see :meth:`frame_times`).

        Returns
        -------
        dict of int to np.ndarray [shape=(len(times), 4)]
            Per object id, ``[x0, y0, x1, y1]`` per time; rows are NaN where the object is
            not visible.
        """
        from scipy.interpolate import PchipInterpolator

        t = self.frame_times(times) if isinstance(times, int | np.integer) else np.asarray(times)
        key_t = np.array([kf.time for kf in self.keyframes])
        out: dict[int, np.ndarray] = {}
        for obj in self.objects:
            rows = np.full((t.size, 4), np.nan)
            present = [obj.id in {b.id for b in kf.boxes} for kf in self.keyframes]
            # contiguous runs of keyframes where the object is visible
            runs: list[list[int]] = []
            for k, here in enumerate(present):
                if here and runs and runs[-1][-1] == k - 1:
                    runs[-1].append(k)
                elif here:
                    runs.append([k])
            for run in runs:
                boxes = np.array(
                    [next(b.box for b in self.keyframes[k].boxes if b.id == obj.id) for k in run]
                )
                centre = np.stack(
                    [(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1
                )
                size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
                lo = -np.inf if run[0] == 0 else key_t[run[0]]
                hi = np.inf if run[-1] == len(self.keyframes) - 1 else key_t[run[-1]]
                sel = (t >= lo) & (t <= hi)
                if not sel.any():
                    continue
                tt = np.clip(t[sel], key_t[run[0]], key_t[run[-1]])
                if len(run) == 1:
                    c, s = np.repeat(centre, tt.size, 0), np.repeat(size, tt.size, 0)
                else:
                    kt = key_t[run]
                    c = PchipInterpolator(kt, centre, axis=0)(tt)
                    s = PchipInterpolator(kt, size, axis=0)(tt)
                box = np.concatenate([c - s / 2, c + s / 2], axis=1)
                rows[sel] = np.clip(box, 0.0, 1.0)
            out[obj.id] = rows
        return out


def describe_errors(exc: ValidationError, *, limit: int = 5) -> str:
    """One line naming each problem: ``field.path: message``."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ""
        for piece in err.get("loc", ()):
            loc += f"[{piece}]" if isinstance(piece, int) else (f".{piece}" if loc else piece)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)


def vsl_json_schema() -> dict[str, Any]:
    """JSON Schema of the VSL, generated from the model."""
    schema = VSL.model_json_schema(by_alias=True)
    schema["$id"] = SCHEMA_ID
    schema["title"] = "spa2v Video Scene Layout v1"
    return schema

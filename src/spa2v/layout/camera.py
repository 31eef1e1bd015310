"""The camera model: where a sound at a given azimuth and distance appears in the frame.

The camera stands at the listener, level, looking ahead (azimuth 0°), with a horizontal field
of view ``fov_deg`` and the horizon at height ``horizon`` (fraction of the frame from the top).

Horizontal position
    Inside the field of view a pinhole projection: ``u = tan(az) / tan(fov / 2)`` runs from
    -1 (right edge) to +1 (left edge). Sounds outside the view (up to ±90°) must still be shown,
    so ``u`` is compressed smoothly, ``x = 0.5 - 0.5 * (1 - margin) * tanh(u)``: the order of
    sources is kept, a source at the edge of the view lands about 3/4 of the way to the edge,
    and one at 90° at the edge itself. Positive azimuth (left) gives small x (left).

Distance
    Only a *relative* distance can be heard: ``d_rel >= 1``, with 1 the nearest the source
    comes (its loudest moment) and about 2 for each 6 dB quieter (free-field 1/r law).
    A ground object stands on the ground plane: its bottom edge moves from near the bottom of
    the frame (``d_rel = 1``) towards the horizon as ``1 / d_rel``, and its size shrinks as
    ``1 / d_rel``. A flying object (aircraft, birds) is drawn above the horizon instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spa2v.errors import ParameterError

#: Names drawn in the sky rather than on the ground.
FLYING = frozenset(
    {"helicopter", "plane", "airplane", "aeroplane", "aircraft", "jet", "drone", "bird",
     "birds", "seagull", "crow", "pigeon", "owl", "duck", "goose", "bee", "fly", "mosquito",
     "balloon", "glider"}
)  # fmt: skip

#: Width / height of typical objects (in real-world proportion); others are square.
ASPECT = {
    "car": 2.0, "truck": 2.2, "bus": 2.5, "train": 3.0, "tram": 3.0, "motorcycle": 1.6,
    "bicycle": 1.6, "helicopter": 1.8, "plane": 2.0, "airplane": 2.0, "jet": 2.0, "cow": 1.5,
    "horse": 1.3, "dog": 1.2, "cat": 1.2, "sheep": 1.3, "person": 0.45, "man": 0.45,
    "woman": 0.45, "child": 0.5, "speaker": 0.45, "singer": 0.45, "guitar": 0.5,
    "piano": 1.4, "drum": 1.1, "drums": 1.3, "violin": 0.5, "boat": 2.0, "ship": 2.5,
}  # fmt: skip


@dataclass(frozen=True)
class Camera:
    """Maps azimuth and relative distance to boxes.

    Parameters
    ----------
    fov_deg : float
        Horizontal field of view in degrees (default 90°).
    horizon : float
        Height of the horizon, as a fraction of the frame from the top.
    near_height : float
        Height of a ground object at its nearest (``d_rel = 1``), fraction of the frame.
    min_height : float
        Smallest height drawn, so far objects remain visible.
    margin : float
        Fraction of the half-width kept free at the edges.
    width, height : int
        Frame size in pixels (for aspect ratios).
    """

    fov_deg: float = 90.0
    horizon: float = 0.42
    near_height: float = 0.5
    min_height: float = 0.1
    margin: float = 0.06
    width: int = 512
    height: int = 320

    def __post_init__(self) -> None:
        if not 10.0 <= self.fov_deg <= 170.0:
            raise ParameterError(f"field of view must be within 10°–170°, got {self.fov_deg}")
        if not 0.1 <= self.horizon <= 0.9:
            raise ParameterError("horizon must be within 0.1 … 0.9")
        if self.width < 16 or self.height < 16:
            raise ParameterError("frame size must be at least 16×16 pixels")

    def x_of(self, azimuth_deg: np.ndarray | float) -> np.ndarray:
        """Horizontal centre in [0, 1] of a sound at ``azimuth_deg`` (+ = left)."""
        az = np.radians(np.clip(np.asarray(azimuth_deg, dtype=np.float64), -89.9, 89.9))
        u = np.tan(az) / math.tan(math.radians(self.fov_deg) / 2)
        return 0.5 - 0.5 * (1.0 - self.margin) * np.tanh(u)

    def azimuth_of(self, x: np.ndarray | float) -> np.ndarray:
        """Inverse of :meth:`x_of`."""
        v = np.clip(
            (0.5 - np.asarray(x, dtype=np.float64)) / (0.5 * (1 - self.margin)), -0.999, 0.999
        )
        u = np.arctanh(v)
        return np.degrees(np.arctan(u * math.tan(math.radians(self.fov_deg) / 2)))

    def azimuth_of_box(self, box: tuple[float, float, float, float] | list[float] | np.ndarray,
                       name: str = "") -> float:  # fmt: skip
        """The azimuth of a box made by :meth:`box`, also when the frame's edge cut it.

        A box at the edge keeps only its visible part; its width is known from its height
        and the object's aspect, so its centre — and azimuth — are found again.
        """
        x0, y0, x1, y1 = (float(v) for v in box)
        w = min(0.8, (y1 - y0) * ASPECT.get(name.strip().lower(), 1.0) * self.height / self.width)
        xc = (x0 + x1) / 2
        if x0 <= 0.0 < x1 < 1.0:
            xc = x1 - w / 2
        elif 0.0 < x0 < 1.0 <= x1:
            xc = x0 + w / 2
        return float(self.azimuth_of(xc))

    def box(
        self, azimuth_deg: float, d_rel: float, name: str = ""
    ) -> tuple[float, float, float, float]:
        """The box of an object at ``azimuth_deg`` and relative distance ``d_rel`` (>= 1).

        Returns ``[x0, y0, x1, y1]`` inside the frame.
        """
        d = max(1.0, float(d_rel)) if math.isfinite(d_rel) else 1.0
        key = name.strip().lower()
        h = max(self.min_height, self.near_height / d)
        aspect = ASPECT.get(key, 1.0)
        w = min(0.8, h * aspect * self.height / self.width)
        xc = float(self.x_of(azimuth_deg))
        # an object at the edge is partly out of view: keep its visible part, not a box
        # shifted inwards (which would move it towards the centre)
        x0, x1 = max(xc - w / 2, 0.0), min(xc + w / 2, 1.0)
        if key in FLYING:
            # in the sky: nearer = lower and bigger, far = high and small
            yc = self.horizon * (0.35 + 0.3 / d)
            y0 = min(max(yc - h / 2, 0.0), 1.0 - h)
        else:
            bottom = self.horizon + (0.96 - self.horizon) / d
            y0 = max(bottom - h, 0.0)
            h = min(h, bottom - y0)
        return (round(x0, 4), round(y0, 4), round(x1, 4), round(y0 + h, 4))

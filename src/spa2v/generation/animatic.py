"""The embedded storyboard renderer (``--generator animatic``): no GPU, no model, no weights.

Every frame shows the layout exactly:

* a background that suits the caption, with the horizon of the layout's camera model
  (:mod:`spa2v.generation.scenery`);
* each visible object as a colour icon chosen from its name (:mod:`spa2v.generation.icons`),
  fitted *inside its box* (interpolated between keyframes), standing on the box's bottom edge
  (flying things centred), mirrored to face the way it moves;
* a sound cue per object, also inside its box: a ring whose strength follows the object's
  loudness and a second ring that flashes at each of its onsets and widens towards the box
  edge as it fades (:mod:`spa2v.generation.sound`).

Frames are produced one at a time; icons and rings are cached by pixel size, so a frame costs a
background copy and a few small alpha blends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from spa2v.generation.base import RenderRequest
from spa2v.generation.frames import FRAME_BLOCK, FrameBoxes
from spa2v.generation.icons import Icon, icon_for, raster
from spa2v.generation.scenery import draw_background
from spa2v.layout.camera import FLYING
from spa2v.layout.vsl import VSL

#: Accent colours of the sound cues, by object order.
PALETTE = ((255, 140, 0), (0, 200, 255), (255, 60, 180), (120, 230, 60), (255, 220, 0))
#: Fraction of the box's smaller side kept between the icon and the box edge (for the rings).
ICON_MARGIN = 0.12
#: Speed (frame widths per second) above which an object turns to face its motion.
TURN_SPEED = 0.05


@dataclass
class _Track:
    """What is drawn of one object (its geometry comes frame by frame)."""

    oid: int
    icon: Icon
    flying: bool
    colour: tuple[int, int, int]
    facing: _Facing


class _Facing:
    """Whether to mirror an object's icon in each frame, so that it faces the way it moves.

    The object starts facing its overall direction of travel and turns only when its box
    centre moves faster than :data:`TURN_SPEED` (velocity averaged over one second). Frames
    must be asked for in order; the centres are interpolated a block at a time with enough
    margin for the average, so memory does not grow with the video's length.
    """

    def __init__(self, layout: VSL, oid: int, n: int, fps: float, natural: str) -> None:
        self.layout, self.oid, self.n, self.fps, self.natural = layout, oid, n, fps, natural
        self.k = max(1, int(round(1.0 * fps)))  # over 1 s: a still object's jitter is no turn
        self._lo = self._hi = 0
        self._mirror = np.zeros(0, bool)
        self.heading = natural
        if natural != "front":
            first, last = self._end_centres()
            if first is not None and last is not None:
                total = last - first
                self.heading = "right" if total > 0.05 else "left" if total < -0.05 else natural

    def _centres(self, lo: int, hi: int) -> np.ndarray:
        box = self.layout.interpolate(self.layout.frame_times(self.n, lo, hi))[self.oid]
        return (box[:, 0] + box[:, 2]) / 2

    def _end_centres(self) -> tuple[float | None, float | None]:
        """Box centre in the first and in the last frame where the object is visible."""
        ends: list[float | None] = []
        forward = range(0, self.n, FRAME_BLOCK)
        backward = range((self.n - 1) // FRAME_BLOCK * FRAME_BLOCK, -1, -FRAME_BLOCK)
        for starts in (forward, backward):
            found = None
            for lo in starts:
                xc = self._centres(lo, min(self.n, lo + FRAME_BLOCK))
                seen = np.flatnonzero(np.isfinite(xc))
                if seen.size:
                    found = float(xc[seen[0]] if not ends else xc[seen[-1]])
                    break
            ends.append(found)
        return ends[0], ends[1]

    def __call__(self, i: int) -> bool:
        if not self._lo <= i < self.n:
            raise IndexError(f"frame {i} of {self.n}: frames must be asked for in order")
        while i >= self._hi:  # skipped frames still turn the object
            self._block(self._hi, min(self.n, self._hi + FRAME_BLOCK))
        return bool(self._mirror[i - self._lo])

    def _block(self, lo: int, hi: int) -> None:
        self._lo, self._hi = lo, hi
        self._mirror = np.zeros(hi - lo, bool)
        if self.natural == "front":
            return
        margin = self.k + 2  # the average over k frames of a central difference
        a, b = max(0, lo - margin), min(self.n, hi + margin)
        xc = self._centres(a, b)
        seen = np.isfinite(xc)
        if not seen.any():
            self._mirror[:] = self.heading != self.natural
            return
        x = np.interp(np.arange(a, b), a + np.flatnonzero(seen), xc[seen])
        v = np.gradient(x) * self.fps if x.size > 1 else np.zeros(1)
        # mean over frames j - k//2 … j - k//2 + k - 1, clamped to the video (edge padding)
        j = np.arange(lo, hi)[:, None] - self.k // 2 + np.arange(self.k)[None, :]
        v = v[np.clip(j, 0, self.n - 1) - a].mean(axis=1)
        for i in range(hi - lo):
            if v[i] > TURN_SPEED:
                self.heading = "right"
            elif v[i] < -TURN_SPEED:
                self.heading = "left"
            self._mirror[i] = self.heading != self.natural


@lru_cache(maxsize=512)
def _scaled_icon(emoji: str, w: int, h: int, mirror: bool) -> np.ndarray:
    """The icon resized to ``w × h`` (RGBA, premultiplied weights as float32 0…1 in alpha)."""
    from PIL import Image

    im = Image.fromarray(raster(emoji)).resize((w, h), Image.Resampling.BILINEAR)
    if mirror:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    arr = np.asarray(im, dtype=np.float32)
    out = np.empty_like(arr)
    out[..., 3] = arr[..., 3] / 255.0
    out[..., :3] = arr[..., :3] * out[..., 3:4]
    out.flags.writeable = False
    return out


@lru_cache(maxsize=512)
def _ring(w: int, h: int, thickness: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ellipse outline inscribed in ``w × h``: ``(rows, cols, alpha)`` of its pixels.

    Only the outline's pixels are kept (a ring covers a small part of its box), so painting
    it costs in proportion to its length.
    """
    from PIL import Image, ImageDraw

    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).ellipse([0, 0, w - 1, h - 1], outline=255, width=max(1, thickness))
    arr = np.asarray(im, dtype=np.float32) / 255.0
    rows, cols = np.nonzero(arr)
    alpha = arr[rows, cols][:, None]
    for a in (rows, cols, alpha):
        a.flags.writeable = False
    return rows, cols, alpha


def _blend_rgba(frame: np.ndarray, x: int, y: int, rgba: np.ndarray) -> None:
    """Composite a premultiplied RGBA patch onto ``frame`` at ``(x, y)`` (clipped)."""
    h, w = rgba.shape[:2]
    H, W = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    patch = rgba[y0 - y : y1 - y, x0 - x : x1 - x]
    region = frame[y0:y1, x0:x1]
    out = patch[..., :3] + region * (1.0 - patch[..., 3:4])
    region[...] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _blend_ring(
    frame: np.ndarray,
    x: int,
    y: int,
    ring: tuple[np.ndarray, np.ndarray, np.ndarray],
    colour: tuple[int, int, int],
    a: float,
) -> None:
    """Paint ``colour`` with opacity ``alpha × a`` on the ring's pixels, offset ``(x, y)``."""
    if a <= 0:
        return
    rows, cols, alpha = ring
    H, W = frame.shape[:2]
    r, c = rows + y, cols + x
    inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    if not inside.all():
        r, c, alpha = r[inside], c[inside], alpha[inside]
    px = frame[r, c].astype(np.float32)
    px += (np.asarray(colour, np.float32) - px) * (alpha * np.float32(a))
    frame[r, c] = (px + 0.5).astype(np.uint8)


class AnimaticGenerator:
    """Animated storyboard that follows the layout exactly (the embedded default)."""

    name = "animatic"

    def __init__(self, config: Any = None) -> None:
        """Nothing to configure: the request says what to draw."""

    def preflight(self) -> None:
        """Nothing to check: it runs anywhere."""

    def background(self, request: RenderRequest) -> np.ndarray:
        """The still background of a request (same seed, same image)."""
        layout = request.layout
        width, height = request.size
        cam = (layout.model_extra or {}).get("camera")
        horizon = 0.42
        if isinstance(cam, dict) and isinstance(cam.get("horizon"), int | float):
            horizon = float(np.clip(cam["horizon"], 0.05, 0.95))
        text = " ".join([layout.caption, *(o.name for o in layout.objects)])
        return draw_background(text, width, height, horizon=horizon, seed=request.seed)

    def _tracks(self, request: RenderRequest) -> list[_Track]:
        layout = request.layout
        tracks = []
        for k, obj in enumerate(layout.objects):
            icon = icon_for(obj.name)
            tracks.append(
                _Track(
                    oid=obj.id,
                    icon=icon,
                    flying=icon.key in FLYING or obj.name.strip().lower() in FLYING,
                    colour=PALETTE[k % len(PALETTE)],
                    facing=_Facing(layout, obj.id, request.n_frames, request.fps, icon.facing),
                )
            )
        return tracks

    def render(
        self, request: RenderRequest
    ) -> Iterator[tuple[np.ndarray, dict[int, tuple[int, int, int, int]]]]:
        """Frames with, per visible object, the pixel box ``(x0, y0, x1, y1)`` drawn in.

        The drawn pixels of an object (icon and sound rings) all lie in that box, which is
        the layout's box rounded to whole pixels.
        """
        background = self.background(request)
        tracks = self._tracks(request)
        sound = request.sound
        width, height = request.size
        scale = np.array([width, height, width, height], float)
        boxes = FrameBoxes(request.layout, request.n_frames)
        for i in range(request.n_frames):
            frame = background.copy()  # a new array per frame: callers may keep them
            drawn: dict[int, tuple[int, int, int, int]] = {}
            at = boxes(i)
            for tr in tracks:
                box = at[tr.oid] * scale
                if not np.all(np.isfinite(box)):
                    continue
                x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
                x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
                bw, bh = max(x1 - x0, 2), max(y1 - y0, 2)
                drawn[tr.oid] = (x0, y0, x0 + bw, y0 + bh)
                self._draw_object(frame, tr, i, x0, y0, bw, bh, sound)
            yield frame, drawn

    def _draw_object(self, frame, tr: _Track, i: int, x0: int, y0: int, bw: int, bh: int, sound):
        margin = int(round(ICON_MARGIN * min(bw, bh)))
        inner_w, inner_h = max(bw - 2 * margin, 1), max(bh - 2 * margin, 1)
        ih, iw = raster(tr.icon.emoji).shape[:2]
        scale = min(inner_w / iw, inner_h / ih)
        w = max(1, int(iw * scale) // 2 * 2)
        h = max(1, int(ih * scale) // 2 * 2)
        ix = x0 + (bw - w) // 2
        iy = y0 + (bh - h) // 2 if tr.flying else y0 + bh - margin - h
        level = pulse = 0.0
        if sound is not None:
            level = float(sound.level[tr.oid][i])
            pulse = float(sound.pulse[tr.oid][i])
        if sound is not None:
            thick = max(1, int(round(min(bw, bh) * (0.01 + 0.035 * level))))
            _blend_ring(frame, x0, y0, _ring(bw, bh, thick), tr.colour, 0.15 + 0.6 * level)
        if pulse > 0.05:
            # the onset ring starts around the icon and widens to the box edge as it fades
            f = 1.0 - pulse
            rw = int(round(w + (bw - w) * f)) // 2 * 2 or 2
            rh = int(round(h + (bh - h) * f)) // 2 * 2 or 2
            rx = x0 + (bw - rw) // 2
            ry = y0 + (bh - rh) // 2
            thick = max(1, int(round(min(bw, bh) * 0.03)))
            _blend_ring(frame, rx, ry, _ring(rw, rh, thick), (255, 255, 255), 0.9 * pulse)
        _blend_rgba(frame, ix, iy, _scaled_icon(tr.icon.emoji, w, h, tr.facing(i)))

    def frames(self, request: RenderRequest) -> Iterator[np.ndarray]:
        """Yield the frames (``(height, width, 3)`` uint8 RGB); see :meth:`render`."""
        for frame, _ in self.render(request):
            yield frame

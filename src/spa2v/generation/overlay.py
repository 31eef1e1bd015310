"""Layout overlay for checking a video against its layout: boxes, ids, names, frame caption.

Drawn on top of any generator's frames (``--overlay``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from spa2v.generation.frames import FrameBoxes
from spa2v.layout.vsl import VSL

_COLOURS = ((255, 140, 0), (0, 200, 255), (255, 60, 180), (120, 230, 60), (255, 220, 0))


@lru_cache(maxsize=8)
def _font(size: int):  # -> ImageFont
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


class Overlay:
    """Draws the layout over frames.

    Parameters
    ----------
    layout : VSL
        The layout.
    n_frames : int
        Frames of the video (the layout is sampled at their centre times).
    """

    def __init__(self, layout: VSL, n_frames: int) -> None:
        self.layout = layout
        self.n_frames = n_frames
        self.boxes = FrameBoxes(layout, n_frames)
        self.key_times = np.array([kf.time for kf in layout.keyframes])
        self.names = {o.id: o.name for o in layout.objects}
        self.order = {o.id: k for k, o in enumerate(layout.objects)}

    def draw(self, frame: np.ndarray, i: int) -> np.ndarray:
        """A copy of ``frame`` (RGB uint8) with the layout of frame ``i`` drawn on it."""
        from PIL import Image, ImageDraw

        H, W = frame.shape[:2]
        im = Image.fromarray(frame)
        d = ImageDraw.Draw(im, "RGBA")
        font = _font(max(10, H // 26))
        lw = max(1, H // 200)
        for oid, b in self.boxes(i).items():
            if not np.all(np.isfinite(b)):
                continue
            colour = _COLOURS[self.order[oid] % len(_COLOURS)]
            x0, y0, x1, y1 = b[0] * W, b[1] * H, b[2] * W, b[3] * H
            d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=lw)
            label = f"{oid}: {self.names[oid]}"
            tb = d.textbbox((0, 0), label, font=font)
            ty = y0 - (tb[3] - tb[1]) - 4 if y0 > (tb[3] - tb[1]) + 4 else y1 + 2
            d.rectangle([x0, ty, x0 + tb[2] + 4, ty + tb[3] + 2], fill=(*colour, 200))
            d.text((x0 + 2, ty), label, font=font, fill=(0, 0, 0))
        # the caption of the keyframe in force: the last one at or before the frame
        t = float(self.layout.frame_times(self.n_frames, i, i + 1)[0])
        k = max(0, int(np.searchsorted(self.key_times, t, side="right")) - 1)
        caption = self.layout.keyframes[k].caption
        if caption:
            tb = d.textbbox((0, 0), caption, font=font)
            band = tb[3] - tb[1] + 8
            d.rectangle([0, H - band, W, H], fill=(0, 0, 0, 150))
            d.text((4, H - band + 2), caption, font=font, fill=(255, 255, 255))
        return np.asarray(im, dtype=np.uint8)

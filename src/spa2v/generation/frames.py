"""The layout at each video frame, computed a block of frames at a time.

A video is drawn frame after frame; the boxes of its frames are interpolated for one block of
:data:`FRAME_BLOCK` frames at a time, so the memory a render takes does not grow with the
video's length (an hour, or a layout that claims a year).
"""

from __future__ import annotations

import numpy as np

from spa2v.layout.vsl import VSL

#: Frames whose geometry is computed together.
FRAME_BLOCK = 256


class FrameBoxes:
    """Boxes of every object at video frame ``i`` of ``n_frames`` (NaN where not visible).

    Parameters
    ----------
    layout : VSL
        The layout.
    n_frames : int
        Frames of the video; frame ``i`` shows the layout at its centre time.
    block : int
        Frames interpolated at once.

    Examples
    --------
    >>> boxes = FrameBoxes(layout, 240)  # doctest: +SKIP
    >>> boxes(10)[0]  # object 0 in frame 10: [x0, y0, x1, y1], normalised  # doctest: +SKIP
    """

    def __init__(self, layout: VSL, n_frames: int, block: int = FRAME_BLOCK) -> None:
        self.layout, self.n_frames, self.block = layout, n_frames, max(1, block)
        self._lo = self._hi = 0
        self._rows: dict[int, np.ndarray] = {}

    def __call__(self, i: int) -> dict[int, np.ndarray]:
        if not self._lo <= i < self._hi:
            if not 0 <= i < self.n_frames:
                raise IndexError(f"frame {i} of {self.n_frames}")
            self._lo = i // self.block * self.block
            self._hi = min(self.n_frames, self._lo + self.block)
            times = self.layout.frame_times(self.n_frames, self._lo, self._hi)
            self._rows = self.layout.interpolate(times)
        return {oid: rows[i - self._lo] for oid, rows in self._rows.items()}

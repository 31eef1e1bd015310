"""The generator interface: a layout (and the sound) in, RGB frames out.

A generator is chosen by name (``--generator animatic``). It receives a
:class:`RenderRequest` — the layout, the frame size and rate, a seed and, when the audio is
known, per-object :class:`~spa2v.generation.sound.SoundTraces` — and yields
``(height, width, 3)`` uint8 RGB frames one at a time, so that callers can stream them to the
encoder without holding the video in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from spa2v.errors import ParameterError
from spa2v.media.video import check_fps, check_video_size, frame_count
from spa2v.registry import GENERATORS

if TYPE_CHECKING:
    import numpy as np

    from spa2v.config import RunConfig
    from spa2v.generation.sound import SoundTraces
    from spa2v.layout.vsl import VSL


@dataclass(frozen=True)
class RenderRequest:
    """What to render.

    Attributes
    ----------
    layout : VSL
        The layout to follow.
    fps : float
        Frame rate.
    width, height : int or None
        Frame size in pixels; None uses the layout's.
    seed : int
        Seed of every random choice the generator makes (same seed, same video).
    sound : SoundTraces or None
        Loudness and onsets of each object over the frames, when the audio is known.
    """

    layout: VSL
    fps: float = 24.0
    width: int | None = None
    height: int | None = None
    seed: int = 0
    sound: SoundTraces | None = None
    #: Called with (work done, total) by generators whose first frame takes long (diffusion).
    progress: Callable[[int, int], None] | None = None

    def __post_init__(self) -> None:
        check_fps(self.fps)
        check_video_size(*self.size)
        if self.sound is not None and self.sound.n_frames != self.n_frames:
            raise ParameterError("sound traces do not match the number of frames")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels; the layout's size is rounded down to even numbers.

        Boxes are normalised, so a layout planned for 513×321 renders as 512×320 (H.264 in
        yuv420p needs even sizes); sizes given explicitly must be even already.
        """
        return (
            self.width or max(16, self.layout.width // 2 * 2),
            self.height or max(16, self.layout.height // 2 * 2),
        )

    @property
    def n_frames(self) -> int:
        """Number of frames: the layout's duration at :attr:`fps`."""
        return frame_count(self.layout.duration, self.fps)


@runtime_checkable
class Generator(Protocol):
    """Renders a layout into frames."""

    #: Name used on the command line.
    name: str

    def preflight(self) -> None:
        """Check, before any work, what the generator needs here (extra, weights, device)."""
        ...

    def frames(self, request: RenderRequest) -> Iterator[np.ndarray]:
        """Yield ``request.n_frames`` frames of shape ``(height, width, 3)``, uint8 RGB."""
        ...


def get_generator(name: str, config: RunConfig | None = None) -> Generator:
    """The generator called ``name``, built for ``config`` (None: the defaults).

    Parameters
    ----------
    name : str
        ``"animatic"`` or ``"diffusion"``.
    config : RunConfig or None
        The run's configuration (the diffusion generator reads its ``diffusion`` section).

    Raises
    ------
    ParameterError
        For an unknown name (the message lists the known ones).
    """
    return GENERATORS.get(name, config)

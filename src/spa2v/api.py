"""The Python API: the same jobs as the command line, one call each.

``spa2v.cues`` is :func:`spa2v.audio.cues.analyze_file`; ``spa2v.plan`` is defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spa2v.audio.cues import CueSheet
from spa2v.audio.cues import analyze_file as cues
from spa2v.audio.load import load_audio
from spa2v.layout.vsl import VSL
from spa2v.planning import PlanOptions, get_planner


def plan(
    audio: str | Path,
    *,
    labels: Sequence[str] = (),
    keyframes: int | None = None,
    keyframe_rate: float = 2.0,
    fov_deg: float = 90.0,
    width: int = 512,
    height: int = 320,
    planner: str = "cues",
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
    cue_sheet: CueSheet | None = None,
) -> VSL:
    """Plan a Video Scene Layout for a recording.

    Parameters
    ----------
    audio : str or Path
        Audio or video file.
    labels : sequence of str
        Object names, one per source from left to right ("sound source" when missing).
    keyframes : int or None
        Number of keyframes; None uses ``keyframe_rate`` per second (at least 4).
    keyframe_rate : float
        Keyframes per second.
    fov_deg : float
        Horizontal field of view of the camera model.
    width, height : int
        Video size in pixels recorded in the layout.
    planner : str
        ``"cues"`` (default, offline) or ``"naive"`` (baseline).
    sr, channels
        As for :func:`spa2v.audio.cues.analyze_file` (``spa2v.cues``).
    cue_sheet : CueSheet or None
        Reuse an already measured cue sheet.

    Returns
    -------
    VSL

    Examples
    --------
    >>> layout = plan("street.wav", labels=["car"])  # doctest: +SKIP
    >>> layout.save("layout.json")  # doctest: +SKIP
    """
    options = PlanOptions(
        labels=tuple(labels),
        keyframes=keyframes,
        keyframe_rate=keyframe_rate,
        fov_deg=fov_deg,
        width=width,
        height=height,
    )
    chosen = get_planner(planner)
    sheet = cue_sheet or cues(audio, sr=sr, channels=channels)
    samples = load_audio(audio, sr=sr, channels=channels) if chosen.needs_audio else None
    return chosen.plan(sheet, samples, options)


__all__ = ["cues", "plan"]

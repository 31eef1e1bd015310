"""Render a layout to MP4: generator frames → (overlay) → H.264, with the audio muxed in."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from spa2v.audio.cues import CueSheet
from spa2v.config import RunConfig, pop_ready
from spa2v.errors import ParameterError
from spa2v.generation.base import RenderRequest, get_generator
from spa2v.layout.vsl import VSL

Progress = Callable[[float, float | None], None]


def render_video(
    layout: VSL,
    output: str | Path,
    config: RunConfig | Mapping[str, Any] | None = None,
    *,
    audio: str | Path | None = None,
    cue_sheet: CueSheet | None = None,
    overlay_output: str | Path | None = None,
    progress: Progress | None = None,
    step_progress: Callable[[int, int], None] | None = None,
    report: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """Render ``layout`` into an MP4 file, with the audio of ``audio`` when given.

    Parameters
    ----------
    layout : VSL
        The layout.
    output : str or Path
        MP4 file to write (atomically: an existing file is replaced only on success).
    config : RunConfig or mapping or None
        The run's configuration; this reads the ``render`` and ``diffusion`` sections, the
        analysis ``channels`` of a many-channel ``audio``, and ``width``/``height`` when they
        are set (otherwise the frame size is the layout's).
    audio : str or Path or None
        Recording to mux in (AAC stereo, 48 kHz) and to drive the sound cues. Its length must
        match the layout's within one frame (else :class:`ParameterError`); the soundtrack is
        trimmed or padded to the exact video length.
    cue_sheet : CueSheet or None
        Cues of ``audio`` if already measured (they are measured otherwise).
    overlay_output : str or Path or None
        Also write a second video with the overlay here (the frames are generated once).
    progress : callable or None
        Called with ``(frames done, total frames)``.
    step_progress : callable or None
        Called with ``(denoising steps done, total)`` by the diffusion generator.
    report : dict or None
        Filled with what the generator reports of its work, when it reports anything (the
        diffusion generator: frames generated, windows, layout energy and each object's
        share of attention inside its box).
    **options
        Options on top of ``config`` (``fps=12``…); ``generator`` may also be a ready
        generator object.

    Returns
    -------
    Path
        ``output``.
    """
    import numpy as np

    from spa2v.audio.cues import analyze_file
    from spa2v.audio.load import open_audio
    from spa2v.generation.overlay import Overlay
    from spa2v.generation.sound import sound_traces
    from spa2v.media.video import AUDIO_SR, VideoWriter

    ready = pop_ready(options, "generator")
    cfg = RunConfig.build(config, options)
    gen = ready or get_generator(cfg.render.generator, cfg)
    gen.preflight()  # a missing extra or weights folder: say so before the audio is analysed
    generator, fps, seed, overlay = gen.name, cfg.render.fps, cfg.render.seed, cfg.render.overlay
    channels = cfg.analysis.channels
    size = {k: getattr(cfg.planning, k) for k in ("width", "height")
            if k in cfg.planning.model_fields_set}  # fmt: skip
    request = RenderRequest(layout=layout, fps=fps, seed=seed, **size)
    n = request.n_frames
    if audio is not None:
        if cue_sheet is None:
            cue_sheet = analyze_file(audio, channels=channels)
        if abs(cue_sheet.duration_s - layout.duration) > 1.0 / fps + 1e-6:
            raise ParameterError(
                f"the layout lasts {layout.duration:.3f} s but the audio {audio} lasts "
                f"{cue_sheet.duration_s:.3f} s; they must agree within one frame "
                f"({1 / fps:.3f} s at {fps:g} frames/s): plan the layout from this recording, "
                "or set the layout's duration"
            )
        traces = sound_traces(layout, cue_sheet, layout.frame_times(n))
        request = replace(request, sound=traces)
    if step_progress is not None:
        request = replace(request, progress=step_progress)
    w, h = request.size
    marks = Overlay(layout, n) if (overlay or overlay_output is not None) else None
    outputs = [(Path(output), overlay)]
    if overlay_output is not None:
        outputs.append((Path(overlay_output), True))
    with ExitStack() as stack:
        writers = []
        for path, with_marks in outputs:
            sound = None
            if audio is not None:
                stream = stack.enter_context(
                    _quiet(lambda: open_audio(audio, sr=AUDIO_SR, channels=channels, block_s=0.5))
                )
                sound = iter(stream)
            writer = stack.enter_context(VideoWriter(path, width=w, height=h, fps=fps, audio=sound))
            writers.append((writer, with_marks))
        done = 0
        for i, frame in enumerate(gen.frames(request)):
            if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
                raise RuntimeError(
                    f"generator {generator!r} produced a {frame.shape} {frame.dtype} frame"
                )
            marked = marks.draw(frame, i) if marks is not None else None
            for writer, with_marks in writers:
                writer.write(marked if with_marks else frame)
            done = i + 1
            if progress is not None:
                progress(done, n)
        if done != n:
            raise RuntimeError(f"generator {generator!r} produced {done} of {n} frames")
    if report is not None and callable(getattr(gen, "report", None)):
        report.update(gen.report())
    return Path(output)


def _quiet(opener):
    """Open without repeating the mono warning already given by the cue analysis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opener()

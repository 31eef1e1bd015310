"""The web app (``spa2v serve``): drop in a recording, watch the result. Optional extra ``[ui]``.

Built with Gradio. The page says what it does in one line and three numbered steps; the
recording goes in through an audio player (with clickable examples whose names are filled in),
and one button runs the whole job, its progress in one place beside the button. The two videos
(plain, and with the boxes drawn) sit side by side above the cue plot; Re-render and the
download (named after the input) sit right under them, and the layout editor, bounded and
folded away, below. Only the backends that can run on this machine are offered; the others are
listed with the reason. Mono or identical-channel recordings and names that disagree with the
sources found raise a warning in the page; a file with more than two channels gets channel
pickers. Each session keeps its files in its own temporary folder, and the copies Gradio serves
are removed with it when the tab closes. The server binds to 127.0.0.1 unless told otherwise,
refuses uploads over the size limit (200 MB by default) and sends no analytics.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Any

from spa2v.errors import ParameterError, Spa2vError

#: Demo clips offered as examples, with the names (left to right) filled in.
EXAMPLES = {"duet": "cow, helicopter", "passby": "car", "left-to-right": "car",
            "approach": "truck", "static-left": "cow"}  # fmt: skip
#: File in a session's folder listing the folders of Gradio's copies of its uploads.
UPLOADS_LIST = "uploads.txt"
#: The menu entry of an optional count that the analysis decides.
AUTO = "auto"
#: The editor shows this many lines at most and scrolls inside.
EDITOR_LINES = 18
#: The page's few style rules: videos bounded in height, the status line kept in place.
CSS = "#results video { max-height: 420px; } #status { min-height: 1.5em; }"


def _gradio() -> Any:
    from spa2v.extras import require

    (gr,) = require("ui", "the web app")
    return gr


def _session_path(session_hash: str | None) -> Path:
    """The temporary folder of one browser session."""
    safe = "".join(c for c in (session_hash or "") if c.isalnum()) or "anonymous"
    return Path(tempfile.gettempdir()) / f"spa2v-session-{safe}"


def _gradio_cache() -> Path:
    """Gradio's folder for the files it serves (``GRADIO_TEMP_DIR``, as Gradio reads it)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def _served_dir(folder: str | Path) -> Path:
    """Where a session's served files lie in Gradio's cache (one folder per session)."""
    return _gradio_cache() / Path(folder).name


def _remove(state: dict[str, Any] | str | None) -> None:
    """Remove a session's folder and the copies of its files that Gradio served."""
    if not state:
        return
    folder = state["folder"] if isinstance(state, dict) else state
    uploads = Path(folder) / UPLOADS_LIST
    if uploads.is_file():  # the uploads Gradio received for this session
        for line in uploads.read_text(encoding="utf-8").splitlines():
            if line.strip():
                shutil.rmtree(line.strip(), ignore_errors=True)
    shutil.rmtree(_served_dir(folder), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)


def _serve(path: Path, state: dict[str, Any]) -> str:
    """Copy ``path`` where Gradio serves it from, in this session's own folder there.

    Gradio serves files inside its cache folder as they are (others it copies there, under a
    hash of their content that sessions would share); a fresh subfolder per copy gives each
    render a new address, and the whole folder goes with the session.
    """
    target = _served_dir(state["folder"]) / uuid.uuid4().hex[:12] / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return str(target)


def _user_error(gr: Any, message: str, title: str) -> Exception:
    """A message for the page, and one line (no traceback) in the server's log.

    The title is part of the message: Gradio's toasts show the message, not always the title.
    """
    sys.stderr.write(f"spa2v serve: {title.lower()}: {message}\n")
    return gr.Error(f"{title}: {message}", title=title, print_exception=False)


def _channel_count(path: str | None) -> int:
    """Channels of an audio file (0 when it cannot be read: the run says why)."""
    if not path:
        return 0
    try:
        import av

        with av.open(str(path)) as container:
            return int(container.streams.audio[0].codec_context.channels)
    except Exception:  # any unreadable file: the run gives the message
        return 0


def _availability(config: Any = None) -> dict[str, dict[str, str | None]]:
    """For each registry, each backend's reason it cannot run here (None: it can)."""
    from spa2v.registry import GENERATORS, PLANNERS, TAGGERS

    out: dict[str, dict[str, str | None]] = {}
    for field, registry in (("planner", PLANNERS), ("generator", GENERATORS),
                            ("tagger", TAGGERS)):  # fmt: skip
        out[field] = {}
        for name in registry.names():
            try:
                backend = registry.get(name, config)
                if backend is not None:
                    backend.preflight()
                out[field][name] = None
            except Spa2vError as exc:
                out[field][name] = str(exc).split(". ")[0].split("; ")[0]
            except Exception as exc:  # a broken optional install
                out[field][name] = f"{type(exc).__name__}: {exc}"
    return out


def _backbones() -> list[str]:
    """The diffusion backbones whose default model is on this machine (the menu also offers
    "auto": the backbone of the model given, see :class:`DiffusionGenerator`)."""
    from spa2v.config import DiffusionSettings, choices
    from spa2v.generation.diffusion import DiffusionGenerator

    found = []
    for name in choices("backbone") or []:
        try:
            DiffusionGenerator(DiffusionSettings(backbone=name)).preflight()
            found.append(name)
        except Spa2vError:
            pass
    return found


def _table(layout: Any) -> list[list[Any]]:
    rows = []
    for obj in layout.objects:
        boxes = [b.box for kf in layout.keyframes for b in kf.boxes if b.id == obj.id]
        first = [round(v, 2) for v in boxes[0]] if boxes else []
        last = [round(v, 2) for v in boxes[-1]] if boxes else []
        rows.append([obj.id, obj.name, str(first), str(last), len(boxes)])
    return rows


def _zip(folder: Path, name: str) -> Path:
    target = folder.parent / name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                z.write(p, p.name)
    return target


#: The run options the page offers under "Advanced" (made from the configuration's fields:
#: their names, defaults, ranges and help); the diffusion generator's own options follow when
#: that generator can run here.
ADVANCED = ("planner", "tagger", "generator", "sources", "keyframe_rate", "fov_deg", "fps",
            "seed")  # fmt: skip
DIFFUSION_OPTIONS = ("backbone", "model", "gen_fps", "frames", "steps", "cfg_scale",
                     "guidance_scale", "layout_guidance", "negative_prompt")  # fmt: skip


def _component(gr: Any, name: str, offered: list[str] | None = None) -> Any:
    """A Gradio input for a configuration field: a menu of the registered names (``offered``:
    those that can run here) or of a field's choices, a checkbox, a number with the field's
    range, or a text box."""
    import typing

    from annotated_types import Ge, Gt, Le

    from spa2v.config import FIELDS, SECTIONS, choices

    info = SECTIONS[FIELDS[name]].model_fields[name]
    label, help_text = name.replace("_", " "), info.description
    common = {"label": label, "info": help_text, "elem_id": f"option-{name}"}
    default = info.get_default(call_default_factory=True)
    kinds = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    kind = kinds[0] if kinds else info.annotation
    options = offered if offered is not None else choices(name)
    if options is not None:
        return gr.Dropdown(options, value=default if default in options else options[0],
                           **common)  # fmt: skip
    if kind is bool:
        return gr.Checkbox(value=default, **common)
    if kind in (int, float):
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        low = next((m.gt for m in info.metadata if isinstance(m, Gt)), low)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        low, high = extra.get("minimum", low), extra.get("maximum", high)
        small = low is not None and high is not None and high - low <= 10
        if kind is int and default is None and small:
            # an optional small count (sources): a menu, "auto" leaves it to the analysis
            values: list[Any] = [AUTO, *range(int(low), int(high) + 1)]
            return gr.Dropdown(values, value=AUTO, **common)
        return gr.Number(value=default, minimum=low, maximum=high,
                         precision=0 if kind is int else None, **common)  # fmt: skip
    return gr.Textbox(value=default, **common)


def _examples(folder: Path) -> list[list[str]]:
    """The demo clips, rendered once per server, with their names."""
    from spa2v.audio.synth import render_preset

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, labels in EXAMPLES.items():
        path = folder / f"{name}.wav"
        if not path.is_file():
            render_preset(name, duration_s=6.0, seed=0).save(path)
        rows.append([str(path), labels])
    return rows


def _renamed(layout: Any, before: Any) -> Any:
    """``layout`` with the captions following renamed objects (same id, another name)."""
    old = {o.id: o.name for o in before.objects} if before is not None else {}
    changes = [(old[o.id], o.name) for o in layout.objects
               if o.id in old and old[o.id] != o.name]  # fmt: skip
    if not changes:
        return layout

    def fix(text: str) -> str:
        for a, b in changes:
            text = re.sub(rf"\b{re.escape(a)}\b", b, text, flags=re.IGNORECASE)
        return text

    frames = [k.model_copy(update={"caption": fix(k.caption)}) for k in layout.keyframes]
    return layout.model_copy(update={"caption": fix(layout.caption), "keyframes": frames})


def build_app() -> Any:
    """The Gradio app (not started)."""
    gr = _gradio()
    available = _availability()
    offered = {field: [n for n, why in names.items() if why is None]
               for field, names in available.items()}  # fmt: skip
    unavailable = [f"**{name}** ({field}): {why}" for field, names in available.items()
                   for name, why in names.items() if why is not None]  # fmt: skip
    diffusion = "diffusion" in offered["generator"]
    examples_dir = Path(tempfile.gettempdir()) / "spa2v-examples"
    example_files = {f"{name}.wav" for name in EXAMPLES}

    def options_of(data: dict[Any, Any]) -> dict[str, Any]:
        opts = {name: data[box] for name, box in advanced.items()
                if data[box] is not None and data[box] not in ("", AUTO)}  # fmt: skip
        if data[channels_row_visible]:
            opts["channels"] = (int(data[left_in]), int(data[right_in]))
        return opts

    def state_of(data: dict[Any, Any], request: Any) -> dict[str, Any]:
        state = data[session_state] or {}
        folder = state.get("folder")
        if not folder or not Path(folder).is_dir():
            path = _session_path(getattr(request, "session_hash", None))
            path.mkdir(parents=True, exist_ok=True)
            state = {**state, "folder": str(path)}
        return state

    def recording(data: dict[Any, Any], state: dict[str, Any]) -> Path:
        """The recording in the player, copied into the session under its own name."""
        source = data[audio_in]
        if not source:
            raise Spa2vError("load a recording first (upload one, or click an example)")
        source = Path(source)
        if not source.is_file():
            raise Spa2vError(f"{source.name} is no longer on the server: load it again")
        target = Path(state["folder"]) / "input" / source.name
        if state.get("source") != str(source) or not target.is_file():
            # Gradio keeps each upload under a hash of its content: a new path is new audio
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            state["source"] = str(source)
            upload = source.parent
            if upload.parent == _gradio_cache() and source.name not in example_files:
                with open(Path(state["folder"]) / UPLOADS_LIST, "a", encoding="utf-8") as f:
                    f.write(f"{upload}\n")  # Gradio's copy of the upload goes with the session
        return target

    def results(out: Path, layout: Any, audio: Path, state: dict[str, Any]) -> tuple:
        # run.json names the recording as the user knows it, not the server's copy
        record = out / "run.json"
        if record.is_file():
            data = json.loads(record.read_text(encoding="utf-8"))
            data["input"] = audio.name
            if "warnings" in data:
                data["warnings"] = [w.replace(str(audio), audio.name) for w in data["warnings"]]
            record.write_text(json.dumps(data, indent=2), encoding="utf-8")
        bundle = _zip(out, f"{audio.stem}_spa2v.zip")
        files = [out / "video.mp4", out / "video_overlay.mp4"]
        text = layout.to_json()
        return (*(_serve(f, state) for f in files), text, text, _table(layout),
                _serve(bundle, state))  # fmt: skip

    def run_job(data: dict[Any, Any], request: gr.Request,
                progress=gr.Progress()):  # noqa: B008  # fmt: skip
        from spa2v import api

        state = state_of(data, request)
        audio = None
        try:
            audio = recording(data, state)
            names = [x.strip() for x in (data[labels_in] or "").split(",") if x.strip()]

            def tell(stage: str, done: float, total: float | None) -> None:
                progress(done / total if total else None, desc=stage)

            out = Path(state["folder"]) / "run"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = api.run(audio, out, {**options_of(data), "labels": names,
                                              "overlay": True},
                                 force=True, progress=tell)  # fmt: skip
            for text in dict.fromkeys(str(w.message) for w in caught
                                      if issubclass(w.category, UserWarning)):  # fmt: skip
                gr.Warning(text.replace(str(audio), audio.name))  # mono, names vs sources…
        except Spa2vError as exc:
            message = str(exc)
            if audio is not None:  # the name the user knows, not the server's copy
                message = message.replace(str(audio), audio.name)
            raise _user_error(gr, message, "Cannot process this file") from None
        state["measured"] = state["source"]  # the run's cues are this recording's
        shown = results(out, result.layout, audio, state)
        return (*shown[:2], _serve(result.files["plot"], state), *shown[2:], state,
                f"Done: {len(result.layout.objects)} object(s), "
                f"{len(result.layout.keyframes)} keyframes.")  # fmt: skip

    def rerender(data: dict[Any, Any], request: gr.Request):
        from spa2v.audio.cues import CueSheet, analyze_file
        from spa2v.config import RunConfig
        from spa2v.generation.render import render_video
        from spa2v.layout.vsl import VSL

        state = state_of(data, request)
        try:
            if not (data[layout_json] or "").strip():
                raise Spa2vError("there is no layout: run a recording first")
            layout = VSL.from_json(data[layout_json], source="edited layout")
            audio = recording(data, state)
            out = Path(state["folder"]) / "run"
            out.mkdir(parents=True, exist_ok=True)
            # the layout as last shown (kept in the page, so a run loaded from Gradio's history
            # has it too): renamed objects are renamed in the captions
            shown = (data[shown_layout] or "").strip()
            layout = _renamed(layout, VSL.from_json(shown) if shown else None)
            # the run's cues when they are this recording's (a run loaded from Gradio's
            # history, or a page reloaded, has none: they are measured again)
            cues_file, record = out / "cues.json", out / "run.json"
            same = cues_file.is_file() and state.get("measured") == state["source"]
            opts = options_of(data)
            sheet = (CueSheet.load(cues_file) if same
                     else analyze_file(audio, channels=opts.get("channels")))  # fmt: skip
            config = RunConfig.build({**opts, "labels": [o.name for o in layout.objects]})
            render_video(layout, out / "video.mp4", config, audio=audio, overlay=False,
                         cue_sheet=sheet, overlay_output=out / "video_overlay.mp4")  # fmt: skip
            layout.save(out / "layout.json")
            sheet.save(cues_file)
            state["measured"] = state["source"]
            if not record.is_file():
                record.write_text(json.dumps({"input": audio.name, "config": config.record()},
                                             indent=2), encoding="utf-8")  # fmt: skip
        except Spa2vError as exc:
            raise _user_error(gr, str(exc), "Cannot render this layout") from None
        shown = results(out, layout, audio, state)
        return (*shown, state, "Re-rendered the edited layout.")

    def on_audio(path: str | None):
        n = _channel_count(path)
        many = n > 2
        note = (f"This file has {n} channels: pick the left and right one (counted from 0)."
                if many else "")  # fmt: skip
        return (
            gr.update(visible=many),
            gr.update(value=note, visible=many),
            gr.update(maximum=n - 1 if many else None, value=0),
            gr.update(maximum=n - 1 if many else None, value=1),
            many,
        )

    # no delete_cache: Gradio's copies of the examples are shared (by content) with any other
    # server on this machine, and its cache clean-up at shutdown would take them from under
    # it; this app's own files go with each session instead
    with gr.Blocks(title="spa2v", analytics_enabled=False) as demo:
        session_state = gr.State(None, delete_callback=_remove)
        channels_row_visible = gr.State(False)
        gr.Markdown(
            "## spa2v — a stereo recording in, a video whose objects sit and move where the "
            "sounds do\n"
            "1. **Load a recording** (stereo; upload one or click an example).  \n"
            "2. **Name the sources**, left to right, if you know them (optional).  \n"
            "3. **Run**, then watch; edit the layout and **Re-render**, or download everything."
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                audio_in = gr.Audio(label="1. Recording", type="filepath", sources=["upload"],
                                    editable=False, elem_id="recording")  # fmt: skip
                with gr.Row(visible=False) as channels_row:
                    left_in = gr.Number(0, label="left channel", precision=0, minimum=0,
                                        elem_id="left-channel")  # fmt: skip
                    right_in = gr.Number(1, label="right channel", precision=0, minimum=0,
                                         elem_id="right-channel")  # fmt: skip
                channels_note = gr.Markdown(visible=False)
                labels_in = gr.Textbox(
                    label="2. Names, left to right (optional)",
                    info="Comma-separated, e.g. 'cow, helicopter'. The number of names sets "
                    "how many objects are drawn; leave it empty to count the sources from the "
                    "sound. If they disagree with the sources found, a warning says so.",
                    elem_id="names",
                )
                gr.Examples(_examples(examples_dir), [audio_in, labels_in],
                            label="Examples (click one)",
                            example_labels=list(EXAMPLES))  # fmt: skip
                with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                    advanced = {name: _component(gr, name, offered.get(name)) for name in ADVANCED}
                    if diffusion:
                        with gr.Accordion("Diffusion generator", open=False):
                            backbones = {"backbone": [AUTO, *_backbones()]}
                            advanced.update({name: _component(gr, name, backbones.get(name))
                                             for name in DIFFUSION_OPTIONS})  # fmt: skip
                    if unavailable:
                        gr.Markdown("Not available on this machine:  \n"
                                    + "  \n".join(unavailable), elem_id="unavailable")  # fmt: skip
                run_btn = gr.Button("3. Run", variant="primary", elem_id="run")
                status = gr.Markdown(elem_id="status")
            with gr.Column(scale=5, elem_id="results"):
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Video**")
                        video = gr.Video(show_label=False, elem_id="video")
                    with gr.Column():
                        gr.Markdown("**With boxes**")
                        overlay = gr.Video(show_label=False, elem_id="overlay")
                with gr.Row():
                    rerender_btn = gr.Button("Re-render the edited layout", elem_id="rerender")
                    download = gr.DownloadButton("Download everything (zip)", elem_id="download")
                gr.Markdown("**Measured cues**")
                plot = gr.Image(show_label=False, type="filepath", elem_id="plot")
                with gr.Accordion("Layout: edit, then re-render", open=False, elem_id="editor"):
                    layout_json = gr.Code(language="json", lines=8, max_lines=EDITOR_LINES,
                                          show_label=False, elem_id="layout")  # fmt: skip
                    shown_layout = gr.Textbox(visible=False)  # the layout as last rendered
                    table = gr.Dataframe(headers=["id", "name", "first box", "last box",
                                                  "keyframes"],
                                         label="Objects", elem_id="objects")  # fmt: skip
        inputs = {audio_in, labels_in, session_state, channels_row_visible, left_in, right_in,
                  layout_json, shown_layout, *advanced.values()}  # fmt: skip
        # a new run starts from a clean page: no result or message of the last one stays
        results_out = [video, overlay, plot, layout_json, shown_layout, table, download,
                       session_state, status]  # fmt: skip
        # page-only steps stay out of the API and of Gradio's run history
        quiet = {"queue": False, "api_visibility": "private"}
        run_btn.click(lambda: (None, None, None, None, ""), None,
                      [video, overlay, plot, download, status], **quiet).then(
            run_job, inputs, results_out, show_progress_on=[status], api_name="run")  # fmt: skip
        rerender_btn.click(lambda: "", None, status, **quiet).then(
            rerender, inputs, [video, overlay, layout_json, shown_layout, table, download,
                               session_state, status],
            show_progress_on=[status], api_name="rerender")  # fmt: skip
        audio_in.change(on_audio, audio_in,
                        [channels_row, channels_note, left_in, right_in, channels_row_visible],
                        **quiet)  # fmt: skip

        def cleanup(request: gr.Request) -> None:  # the browser tab closed: its files go
            _remove(str(_session_path(getattr(request, "session_hash", None))))

        demo.unload(cleanup)
    return demo


def check_serve_options(host: str, port: int, max_upload_mb: float) -> None:
    """Refuse a missing Gradio, a bad port, a port already in use, or an upload limit that is
    not positive."""
    import math
    import socket

    _gradio()  # the extra first: nothing is served without it
    if not 1 <= port <= 65535:
        raise ParameterError(f"--port must be within 1 … 65535, got {port}")
    if not (math.isfinite(max_upload_mb) and max_upload_mb > 0):
        raise ParameterError(f"--max-upload-mb must be a positive number, got {max_upload_mb:g}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ParameterError(
            f"--host {host!r} is not an address of this machine ({exc.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ParameterError(
                f"cannot listen on {host}:{port} ({exc.strerror}); another program may be "
                "using it: choose another with --port"
            ) from None


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    max_upload_mb: float = 200.0,
    block: bool = True,
) -> Any:
    """Start the web app; returns Gradio's (app, local URL, share URL) when not blocking.

    Raises
    ------
    ParameterError
        For a port outside 1…65535 or already in use, or an upload limit that is not positive.
    """
    check_serve_options(host, port, max_upload_mb)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_app()
    demo.queue()
    return demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=int(max_upload_mb * 1024 * 1024),
        prevent_thread_lock=not block,
        show_error=True,
        quiet=not block,
        css=CSS,
        allowed_paths=[str(Path(tempfile.gettempdir()) / "spa2v-examples")],
    )

"""The web app (``spa2v serve``): drop in a recording, watch the result. Optional extra ``[ui]``.

Built with Gradio. One button runs the whole job with progress per stage; the results show
side by side: the video with its audio, the video with boxes, the cue plot, the layout as
editable JSON and as a table. An edited layout can be rendered again without re-planning, and
everything downloads as one zip. Bad files give a message in the page. The server binds to
127.0.0.1 unless told otherwise, refuses uploads over the size limit (200 MB by default), and
keeps each session's files in its own temporary folder, removed when the session ends.
"""

import json
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from spa2v.errors import ParameterError, Spa2vError

DEMO_CLIPS = ("duet", "passby", "left-to-right", "approach", "static-left")


def _gradio() -> Any:
    from spa2v.extras import require

    (gr,) = require("ui", "the web app")
    return gr


def _remove(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _session_path(session_hash: str | None) -> Path:
    """The temporary folder of one browser session."""
    safe = "".join(c for c in (session_hash or "") if c.isalnum()) or "anonymous"
    return Path(tempfile.gettempdir()) / f"spa2v-session-{safe}"


def _session_dir(current: str | None, session_hash: str | None = None) -> str:
    if current and Path(current).is_dir():
        return current
    if session_hash:
        folder = _session_path(session_hash)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)
    return tempfile.mkdtemp(prefix="spa2v-session-")


def _user_error(gr: Any, message: str, title: str) -> Exception:
    """A message for the page, and one line (no traceback) in the server's log."""
    sys.stderr.write(f"spa2v serve: {title.lower()}: {message}\n")
    return gr.Error(message, title=title, print_exception=False)


def _table(layout: Any) -> list[list[Any]]:
    rows = []
    for obj in layout.objects:
        boxes = [b.box for kf in layout.keyframes for b in kf.boxes if b.id == obj.id]
        first = [round(v, 2) for v in boxes[0]] if boxes else []
        last = [round(v, 2) for v in boxes[-1]] if boxes else []
        rows.append([obj.id, obj.name, str(first), str(last), len(boxes)])
    return rows


def _zip(folder: Path) -> str:
    target = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                z.write(p, p.name)
    return str(target)


#: The run options the page offers under "Advanced options" (made from the configuration's
#: fields: their names, defaults, ranges and help).
ADVANCED = ("planner", "sources", "keyframe_rate", "fov_deg", "tagger", "generator", "fps",
            "seed", "steps", "guidance_scale")  # fmt: skip


def _component(gr: Any, name: str) -> Any:
    """A Gradio input for a configuration field: a menu of the registered names or of a
    field's choices, a checkbox, a number with the field's range, or a text box."""
    import typing

    from annotated_types import Ge, Gt, Le

    from spa2v.config import FIELDS, SECTIONS, choices

    info = SECTIONS[FIELDS[name]].model_fields[name]
    label, help_text = name.replace("_", " "), info.description
    common = {"label": label, "info": help_text, "elem_id": f"option-{name}"}
    default = info.get_default(call_default_factory=True)
    kinds = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    kind = kinds[0] if kinds else info.annotation
    options = choices(name)
    if options is not None:
        return gr.Dropdown(options, value=default, **common)
    if kind is bool:
        return gr.Checkbox(value=default, **common)
    if kind in (int, float):
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        low = next((m.gt for m in info.metadata if isinstance(m, Gt)), low)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        return gr.Number(value=default, minimum=low, maximum=high,
                         precision=0 if kind is int else None, **common)  # fmt: skip
    return gr.Textbox(value=default, **common)


def build_app() -> Any:
    """The Gradio app (not started)."""
    gr = _gradio()

    def run_job(data: dict[Any, Any], request: gr.Request,
                progress=gr.Progress()):  # noqa: B008  # fmt: skip
        from spa2v import api
        from spa2v.audio.synth import render_preset

        upload, demo, labels = data[upload_in], data[demo_clip], data[labels_in]
        session = _session_dir(data[session_state], getattr(request, "session_hash", None))
        root = Path(session)
        audio = None
        try:
            if upload:
                audio = Path(upload if isinstance(upload, str) else upload.name)
            elif demo:
                audio = root / f"{demo}.wav"
                render_preset(demo, duration_s=6.0, seed=0).save(audio)
            else:
                raise Spa2vError("upload a recording or pick a demo clip")
            out = root / "run"
            names = [x.strip() for x in (labels or "").split(",") if x.strip()]

            def tell(stage: str, done: float, total: float | None) -> None:
                progress(done / total if total else None, desc=stage)

            options = {name: data[box] for name, box in advanced.items()
                       if data[box] is not None and data[box] != ""}  # fmt: skip
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = api.run(audio, out, {**options, "labels": names, "overlay": True},
                                 force=True, progress=tell)  # fmt: skip
            for text in dict.fromkeys(str(w.message) for w in caught
                                      if issubclass(w.category, UserWarning)):  # fmt: skip
                gr.Warning(text)  # e.g. more names than sources found: shown in the page
        except Spa2vError as exc:
            message = str(exc)
            if audio is not None:  # the name the user knows, not the server's copy
                message = message.replace(str(audio), audio.name)
            raise _user_error(gr, message, "Cannot process this file") from None
        f = result.files
        return (str(f["video"]), str(f["video_overlay"]), str(f["plot"]),
                result.layout.to_json(), _table(result.layout), _zip(out), session)  # fmt: skip

    def rerender(layout_text, fps, session):
        from spa2v.audio.cues import CueSheet
        from spa2v.config import read_config
        from spa2v.generation.render import render_video
        from spa2v.layout.vsl import VSL

        if not session or not (Path(session) / "run").is_dir():
            raise _user_error(gr, "run a recording first", "Nothing to re-render")
        out = Path(session) / "run"
        try:
            layout = VSL.from_json(layout_text or "", source="edited layout")
            audio = json.loads((out / "run.json").read_text())["input"]
            layout.save(out / "layout.json")
            # one pass for both videos; the recording's cues were measured by the run
            # the run's own configuration (generator, seed…), at the frame rate chosen now
            render_video(layout, out / "video.mp4", read_config(out / "run.json"), audio=audio,
                         fps=float(fps), overlay=False, cue_sheet=CueSheet.load(out / "cues.json"),
                         overlay_output=out / "video_overlay.mp4")  # fmt: skip
        except Spa2vError as exc:
            raise _user_error(gr, str(exc), "Cannot render this layout") from None
        return (str(out / "video.mp4"), str(out / "video_overlay.mp4"), _table(layout),
                _zip(out))  # fmt: skip

    with gr.Blocks(title="spa2v") as demo:
        session_state = gr.State(None, delete_callback=_remove)
        gr.Markdown("## spa2v — a stereo recording in, a video whose layout follows the sound out")
        with gr.Row():
            with gr.Column(scale=1):
                upload_in = gr.File(label="Recording (WAV, FLAC, MP3, MP4…)", type="filepath")
                demo_clip = gr.Dropdown(list(DEMO_CLIPS), value=None, label="…or a demo clip")
                labels_in = gr.Textbox(label="Names, left to right (comma-separated, optional)")
                with gr.Accordion("Advanced options", open=False, elem_id="advanced"):
                    advanced = {name: _component(gr, name) for name in ADVANCED}
                run_btn = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                with gr.Row():
                    video = gr.Video(label="Video", elem_id="video")
                    overlay = gr.Video(label="With boxes", elem_id="overlay")
                plot = gr.Image(label="Measured cues", type="filepath")
        with gr.Row():
            layout_json = gr.Code(label="Layout (edit, then re-render)", language="json")
            table = gr.Dataframe(headers=["id", "name", "first box", "last box", "keyframes"],
                                 label="Objects", elem_id="objects")  # fmt: skip
        with gr.Row():
            rerender_btn = gr.Button("Re-render the edited layout", elem_id="rerender")
            download = gr.File(label="Download everything (zip)")
        inputs = {upload_in, demo_clip, labels_in, session_state, *advanced.values()}
        outputs = [video, overlay, plot, layout_json, table, download, session_state]
        run_btn.click(run_job, inputs, outputs)
        rerender_btn.click(rerender, [layout_json, advanced["fps"], session_state],
                           [video, overlay, table, download])  # fmt: skip

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
    demo = build_app()
    demo.queue()
    return demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=int(max_upload_mb * 1024 * 1024),
        prevent_thread_lock=not block,
        show_error=True,
        quiet=not block,
    )

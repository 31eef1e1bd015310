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


def build_app() -> Any:
    """The Gradio app (not started)."""
    gr = _gradio()

    def run_job(upload, demo, labels, planner, generator, fps, session, request: gr.Request,
                progress=gr.Progress()):  # noqa: B008  # fmt: skip
        from spa2v import api
        from spa2v.audio.synth import render_preset

        session = _session_dir(session, getattr(request, "session_hash", None))
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

            result = api.run(audio, out, labels=names, planner=planner, generator=generator,
                             fps=float(fps), overlay=True, force=True, progress=tell)  # fmt: skip
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
            render_video(layout, out / "video.mp4", audio=audio, fps=float(fps),
                         cue_sheet=CueSheet.load(out / "cues.json"),
                         overlay_output=out / "video_overlay.mp4")  # fmt: skip
        except Spa2vError as exc:
            raise _user_error(gr, str(exc), "Cannot render this layout") from None
        return (str(out / "video.mp4"), str(out / "video_overlay.mp4"), _table(layout),
                _zip(out))  # fmt: skip

    with gr.Blocks(title="spa2v") as demo:
        session = gr.State(None, delete_callback=_remove)
        gr.Markdown("## spa2v — a stereo recording in, a video whose layout follows the sound out")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Recording (WAV, FLAC, MP3, MP4…)", type="filepath")
                demo_clip = gr.Dropdown(list(DEMO_CLIPS), value=None, label="…or a demo clip")
                labels = gr.Textbox(label="Names, left to right (comma-separated, optional)")
                planner = gr.Dropdown(["cues", "naive"], value="cues", label="Planner")
                generator = gr.Dropdown(
                    ["animatic", "diffusion"], value="animatic",
                    label="Generator (diffusion needs spa2v[diffusion] and the weights here)",
                )  # fmt: skip
                fps = gr.Slider(6, 30, value=24, step=1, label="Frames per second")
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
        run_btn.click(run_job, [upload, demo_clip, labels, planner, generator, fps, session],
                      [video, overlay, plot, layout_json, table, download, session])  # fmt: skip
        rerender_btn.click(rerender, [layout_json, fps, session],
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

"""The web app in a real headless Chromium (Playwright with Debian's Chromium, no downloads)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import unquote

import pytest

gr = pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)  # fmt: skip

from spa2v.audio.synth import render_preset  # noqa: E402
from spa2v.web import serve  # noqa: E402

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url() -> str:
    port = _free_port()
    serve("127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}"
    gr.close_all()


@pytest.fixture(scope="module")
def browser(url: str):
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    pg = browser.new_page()
    pg.set_default_timeout(90_000)
    return pg


def _wav(path: Path, samples, sr: int = 48_000) -> Path:
    import numpy as np
    from scipy.io import wavfile

    wavfile.write(path, sr, (np.asarray(samples).T * 20_000).astype(np.int16))
    return path


def _toasts(page) -> str:
    return page.locator(".toast-body, .toast-wrap, [data-testid='toast-body']").all_inner_texts()


def _wait_text(page, text: str) -> None:
    page.get_by_text(text).first.wait_for()


def _example(page, name: str) -> None:
    """Click a demo example and wait until the player holds it (6 s long)."""
    page.get_by_role("button", name=name).click()
    page.locator("#recording").get_by_text("0:06").first.wait_for()


def _run(page, timeout_text: str = "Done:") -> None:
    page.locator("#run").click()
    page.locator("#status").get_by_text(timeout_text).wait_for()


def test_run_fits_the_page_and_downloads_under_the_input_name(
    page, url: str, tmp_path: Path
) -> None:
    clip = tmp_path / "duet clip é.wav"
    render_preset("duet", duration_s=3.0, seed=2).save(clip)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(url)
    page.locator("#recording input[type=file]").set_input_files(str(clip))
    page.locator("#names textarea").fill("cow, helicopter")
    _run(page)
    duration = page.wait_for_function(
        """() => { const v = document.querySelector('#video video');
                   return v && v.readyState >= 1 && isFinite(v.duration) ? v.duration : null; }"""
    ).json_value()
    assert abs(duration - 3.0) < 0.2
    # the page stays short; Re-render and the download are in view, above the editor
    assert page.evaluate("document.documentElement.scrollHeight") < 2500
    rerender, editor = page.locator("#rerender").bounding_box(), page.locator("#editor")
    assert rerender["y"] + rerender["height"] < 900
    assert page.locator("#download").bounding_box()["y"] < 900
    assert rerender["y"] < editor.bounding_box()["y"]
    with page.expect_download() as download:
        page.locator("#download").click()
    assert download.value.suggested_filename == "duet clip é_spa2v.zip"
    import zipfile

    with zipfile.ZipFile(download.value.path()) as bundle:
        assert {"video.mp4", "layout.json", "run.json"} <= set(bundle.namelist())
        assert json.loads(bundle.read("run.json"))["input"] == "duet clip é.wav"  # not /tmp/…
    editor.get_by_text("Layout: edit, then re-render").click()
    assert page.locator("#layout").bounding_box()["height"] < 600  # bounded: scrolls inside
    cells = page.locator("#objects").inner_text()
    assert "cow" in cells and "helicopter" in cells
    # re-render the layout at another frame rate without planning again: a new video arrives
    video = page.locator("#video video")
    first = video.get_attribute("src")
    page.locator("#advanced").get_by_text("Advanced").first.click()  # the run options
    fps = page.locator("#option-fps input[type=number]").first
    for _ in range(20):  # the accordion mounts its inputs when first opened: fill once settled
        fps.fill("12")
        fps.press("Tab")  # the change reaches the app before the click
        page.wait_for_timeout(250)
        if fps.input_value() == "12":
            break
    assert fps.input_value() == "12"
    page.locator("#rerender").click()
    page.wait_for_function(
        "(old) => { const v = document.querySelector('#video video');"
        " return v && v.src && v.src !== old; }",
        arg=first,
    )


def test_only_backends_that_can_run_are_offered(page, url: str) -> None:
    from spa2v.web import _availability

    missing = {name for names in _availability().values()
               for name, why in names.items() if why}  # fmt: skip
    page.goto(url)
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.locator("#option-generator input").click()
    page.get_by_role("option").first.wait_for()
    offered = [t.split()[-1] for t in page.get_by_role("option").all_inner_texts()]
    assert "animatic" in offered and not missing & set(offered)
    page.keyboard.press("Escape")
    if missing:  # on this machine: diffusion without weights, LLM planners without keys
        listed = page.locator("#unavailable").inner_text()
        assert all(name in listed for name in missing)


def test_identical_channels_and_extra_names_warn(page, url: str, tmp_path: Path) -> None:
    tone = render_preset("passby", duration_s=2.0, seed=1).audio[0]
    clip = _wav(tmp_path / "mono as stereo.wav", [tone, tone])
    page.goto(url)
    page.locator("#recording input[type=file]").set_input_files(str(clip))
    page.locator("#names textarea").fill("car, dog")
    _run(page)
    _wait_text(page, "two channels are identical")
    _wait_text(page, "not localised")
    assert "/tmp/" not in " ".join(_toasts(page))


def test_many_channels_get_channel_pickers(page, url: str, tmp_path: Path) -> None:
    import numpy as np

    scene = render_preset("left-to-right", duration_s=2.0, seed=1).audio
    six = np.zeros((6, scene.shape[1]))
    six[2], six[4] = scene[0], scene[1]
    page.goto(url)
    page.locator("#recording input[type=file]").set_input_files(
        str(_wav(tmp_path / "six.wav", six)))  # fmt: skip
    page.locator("#left-channel input").wait_for(state="visible")
    page.locator("#left-channel input").fill("2")
    page.locator("#right-channel input").fill("4")
    page.locator("#right-channel input").press("Tab")
    page.wait_for_timeout(300)
    _run(page)
    page.locator("#video video").wait_for(state="attached")


def test_rerender_without_the_run_in_the_session(browser, url: str) -> None:
    """A run loaded from Gradio's history (like a reloaded page) has the layout and the
    recording but no session: re-render measures the cues again instead of refusing."""
    import glob
    import tempfile

    pattern = str(Path(tempfile.gettempdir()) / "spa2v-session-*" / "run" / "layout.json")
    before = set(glob.glob(pattern))
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.goto(url)
    _example(pg, "passby")
    _run(pg)
    (mine,) = set(glob.glob(pattern)) - before  # the layout the page shows, as saved
    layout = json.loads(Path(mine).read_text(encoding="utf-8"))
    # load that run from Gradio's run history: a new page, a new session, no run in it
    pg.goto(f"{url}/gradio_api/runs")
    pg.get_by_role("button", name="Load run").first.click()
    pg.locator("#status").get_by_text("Done:").wait_for()
    pg.locator("#editor").get_by_text("Layout: edit, then re-render").click()
    editor = pg.locator("#layout .cm-content")
    layout["objects"][0]["name"] = "truck"
    editor.fill(json.dumps(layout))
    pg.locator("#rerender").click()
    pg.locator("#status").get_by_text("Re-rendered").wait_for()
    pg.locator("#video video").wait_for(state="attached")
    assert "truck" in pg.locator("#objects").inner_text()
    newest = max(glob.glob(pattern), key=lambda f: Path(f).stat().st_mtime)
    saved = json.loads(Path(newest).read_text(encoding="utf-8"))
    assert newest != mine and "car" in layout["caption"]  # a new session; captions renamed:
    assert "truck" in saved["caption"] and " car" not in saved["caption"]
    # a layout longer than the recording is refused, saying both lengths
    layout["duration"] = 60.0
    editor.fill(json.dumps(layout))
    pg.locator("#rerender").click()
    _wait_text(pg, "Cannot render this layout")
    _wait_text(pg, "lasts 60.000 s")
    context.close()


def test_another_server_closing_leaves_the_examples_working(page, url: str) -> None:
    other = serve("127.0.0.1", _free_port(), block=False)
    other[0].get_blocks().close()  # Gradio's clean-up of that server must spare ours
    page.goto(url)
    _example(page, "approach")
    _run(page)
    page.locator("#video video").wait_for(state="attached")


def test_renamed_objects_carry_their_captions() -> None:
    from spa2v.layout.vsl import VSL
    from spa2v.web import _renamed

    base = VSL.model_validate({
        "duration": 2.0, "caption": "A Car passes a dog.",
        "objects": [{"id": 0, "name": "car"}, {"id": 1, "name": "dog"}],
        "keyframes": [{"time": 0.0, "caption": "The car on the left; carpet stays.",
                       "boxes": [{"id": 0, "box": [0, 0, 0.2, 0.2]}]}],
    })  # fmt: skip
    edited = base.model_copy(update={"objects": [base.objects[0].model_copy(
        update={"name": "truck"}), base.objects[1]]})  # fmt: skip
    out = _renamed(edited, base)
    assert out.caption == "A truck passes a dog."
    assert out.keyframes[0].caption == "The truck on the left; carpet stays."
    assert _renamed(base, base) is base


def test_corrupt_upload_shows_an_error_and_the_server_keeps_serving(
    page, url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    page.goto(url)
    _example(page, "static-left")
    _run(page)
    page.locator("#video video").wait_for(state="attached")
    page.locator("#recording").get_by_label("Clear").click()  # the player's ×
    page.locator("#recording input[type=file]").set_input_files(str(bad))
    page.locator("#run").click()
    page.get_by_text("Cannot process this file").first.wait_for()  # the title shows
    page.get_by_text("not a readable audio/video file").first.wait_for()
    assert "/tmp/" not in page.get_by_text("not a readable").first.inner_text()
    # the last run's videos are gone: nothing on the page passes for this file's result
    assert page.locator("#video video").count() == 0 and "Done" not in page.locator(
        "#status").inner_text()  # fmt: skip
    page.goto(url)  # still serving
    page.locator("#run").wait_for(state="visible")


def test_session_files_are_removed_when_the_session_ends(browser, url: str, tmp_path: Path) -> None:
    import glob
    import tempfile
    import time

    pattern = str(Path(tempfile.gettempdir()) / "spa2v-session-*")
    before = set(glob.glob(pattern))
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.goto(url)
    clip = render_preset("passby", duration_s=2.0, seed=3)
    upload = tmp_path / "my passby.wav"
    clip.save(upload)
    pg.locator("#recording input[type=file]").set_input_files(str(upload))
    _run(pg)
    mine = set(glob.glob(pattern)) - before
    assert len(mine) == 1 and any(Path(d).iterdir() for d in mine)
    # the copies Gradio serves (videos, plot, zip) and the upload go with the session too
    served = [unquote(src.split("file=", 1)[1]) for src in (
        pg.locator("#video video").get_attribute("src"),
        pg.locator("#overlay video").get_attribute("src"),
        pg.locator("#plot img").get_attribute("src"))]  # fmt: skip
    gradio_cache = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    served += [str(p) for p in gradio_cache.glob("*/my passby.wav")]  # the upload
    assert all(Path(p).is_file() for p in served) and len(served) == 4
    context.close()  # the tab closes: the session ends
    gone = [*mine, *served]
    deadline = time.time() + 60
    while time.time() < deadline and any(Path(d).exists() for d in gone):
        time.sleep(0.5)
    assert not any(Path(d).exists() for d in gone)

"""The web app in a real headless Chromium (Playwright with Debian's Chromium, no downloads)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

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


def test_upload_run_and_watch(page, url: str, tmp_path: Path) -> None:
    clip = tmp_path / "duet.wav"
    render_preset("duet", duration_s=3.0, seed=2).save(clip)
    page.goto(url)
    page.locator("input[type=file]").first.set_input_files(str(clip))
    page.get_by_label("Names, left to right (comma-separated, optional)").fill("cow, helicopter")
    page.locator("#run").click()
    video = page.locator("#video video")
    video.wait_for(state="attached")
    duration = page.wait_for_function(
        """() => { const v = document.querySelector('#video video');
                   return v && v.readyState >= 1 && isFinite(v.duration) ? v.duration : null; }"""
    ).json_value()
    assert abs(duration - 3.0) < 0.2
    cells = page.locator("#objects").inner_text()
    assert "cow" in cells and "helicopter" in cells
    # re-render the layout at another frame rate without planning again: a new video arrives
    first = video.get_attribute("src")
    page.locator("#advanced").get_by_text("Advanced options").click()  # the run options
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


def test_corrupt_upload_shows_an_error_and_the_server_keeps_serving(
    page, url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    page.goto(url)
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.locator("#run").click()
    page.get_by_text("not a readable audio/video file").first.wait_for()
    assert "/tmp/" not in page.get_by_text("not a readable").first.inner_text()
    page.goto(url)  # still serving
    page.locator("#run").wait_for(state="visible")


def test_session_files_are_removed_when_the_session_ends(browser, url: str) -> None:
    import glob
    import tempfile
    import time

    pattern = str(Path(tempfile.gettempdir()) / "spa2v-session-*")
    before = set(glob.glob(pattern))
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    pg.goto(url)
    pg.get_by_label("…or a demo clip").click()
    pg.get_by_role("option", name="passby").click()
    # more names than the one car the clip holds: the page says which are not localised
    pg.get_by_label("Names, left to right (comma-separated, optional)").fill("car, dog")
    pg.locator("#run").click()
    pg.locator("#video video").wait_for(state="attached")
    pg.get_by_text("not localised").first.wait_for()
    mine = set(glob.glob(pattern)) - before
    assert len(mine) == 1 and any(Path(d).iterdir() for d in mine)
    context.close()  # the tab closes: the session ends
    deadline = time.time() + 60
    while time.time() < deadline and any(Path(d).exists() for d in mine):
        time.sleep(0.5)
    assert not any(Path(d).exists() for d in mine)

"""The storyboard renderer: objects drawn inside their boxes in every decoded frame."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from spa2v.errors import ParameterError
from spa2v.generation.animatic import TURN_SPEED, AnimaticGenerator, _Facing
from spa2v.generation.base import GENERATORS, Generator, RenderRequest, get_generator
from spa2v.generation.frames import FRAME_BLOCK
from spa2v.generation.icons import GENERIC, icon_for, known_names, raster
from spa2v.generation.overlay import Overlay
from spa2v.generation.render import render_video
from spa2v.generation.scenery import pick_setting
from spa2v.generation.sound import SoundTraces
from spa2v.layout.vsl import VSL


def _layout(objects: list[tuple[str, list[tuple[float, list[float]]]]], duration: float = 2.0):
    """A layout from ``[(name, [(time, box), ...]), ...]``."""
    times = sorted({t for _, keys in objects for t, _ in keys})
    keyframes = []
    for t in times:
        boxes = [
            {"id": k, "box": box}
            for k, (_, keys) in enumerate(objects)
            for tk, box in keys
            if tk == t
        ]  # fmt: skip
        keyframes.append({"time": t, "caption": f"at {t:g} s", "boxes": boxes})
    return VSL(
        duration=duration,
        caption="A test scene in a field.",
        objects=[{"id": k, "name": name} for k, (name, _) in enumerate(objects)],
        keyframes=keyframes,
    )


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _changed(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - background.astype(int)).max(axis=2) > 60


def _pixel_box(box: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    return box[0] * w, box[1] * h, box[2] * w, box[3] * h


CROSSING = _layout(
    [("car", [(0.0, [0.02, 0.55, 0.22, 0.75]), (1.0, [0.35, 0.5, 0.65, 0.8]),
              (2.0, [0.7, 0.45, 0.98, 0.95])])]
)  # fmt: skip
PAIR = _layout(
    [("cow", [(0.0, [0.02, 0.5, 0.3, 0.9]), (2.0, [0.12, 0.45, 0.42, 0.9])]),
     ("helicopter", [(0.0, [0.65, 0.05, 0.98, 0.35]), (2.0, [0.55, 0.1, 0.88, 0.4])])]
)  # fmt: skip


def test_object_centroid_inside_its_box_in_every_decoded_frame(tmp_path: Path) -> None:
    out = render_video(CROSSING, tmp_path / "v.mp4", fps=12)
    frames = _decode(out)
    request = RenderRequest(layout=CROSSING, fps=12)
    assert len(frames) == request.n_frames == 24
    background = AnimaticGenerator().background(request)
    boxes = CROSSING.interpolate(request.n_frames)[0]
    xs = []
    for i, frame in enumerate(frames):
        mask = _changed(frame, background)
        assert mask.sum() > 50, f"frame {i}: nothing drawn"
        ys, xs_ = np.nonzero(mask)
        cx, cy = xs_.mean(), ys.mean()
        x0, y0, x1, y1 = _pixel_box(boxes[i], 512, 320)
        assert x0 - 1 <= cx <= x1 + 1 and y0 - 1 <= cy <= y1 + 1, f"frame {i}"
        # and almost all drawn pixels lie in the box (compression fringes aside)
        inside = mask[int(y0) : int(np.ceil(y1)) + 1, int(x0) : int(np.ceil(x1)) + 1].sum()
        assert inside >= 0.97 * mask.sum(), f"frame {i}"
        xs.append(cx)
    assert xs[-1] - xs[0] > 250  # it crossed the frame, left to right


def _icon_colour(name: str) -> np.ndarray:
    rgba = raster(icon_for(name).emoji).astype(float)
    a = rgba[..., 3] > 128
    return rgba[..., :3][a].mean(axis=0)


def test_two_objects_stay_on_their_sides(tmp_path: Path) -> None:
    out = render_video(PAIR, tmp_path / "v.mp4", fps=12)
    request = RenderRequest(layout=PAIR, fps=12)
    background = AnimaticGenerator().background(request)
    boxes = PAIR.interpolate(request.n_frames)
    colours = {0: _icon_colour("cow"), 1: _icon_colour("helicopter")}
    for i, frame in enumerate(_decode(out)):
        mask = _changed(frame, background)
        for oid, other in ((0, 1), (1, 0)):
            x0, y0, x1, y1 = (int(round(v)) for v in _pixel_box(boxes[oid][i], 512, 320))
            sel = np.zeros_like(mask)
            sel[y0:y1, x0:x1] = True
            own = mask & sel
            assert own.sum() > 50, f"frame {i}: object {oid} missing"
            ys, xs = np.nonzero(own)
            assert x0 <= xs.mean() <= x1 and y0 <= ys.mean() <= y1
            # the object in this box is the right one (drawn in its icon's colours)
            mean = frame[own].astype(float).mean(axis=0)
            assert np.linalg.norm(mean - colours[oid]) < np.linalg.norm(mean - colours[other])


def test_frames_and_reported_boxes_agree() -> None:
    request = RenderRequest(layout=PAIR, fps=6, seed=3)
    gen = AnimaticGenerator()
    background = gen.background(request)
    for frame, drawn in gen.render(request):
        mask = np.abs(frame.astype(int) - background.astype(int)).max(axis=2) > 0
        covered = np.zeros_like(mask)
        for x0, y0, x1, y1 in drawn.values():
            covered[y0:y1, x0:x1] = True
        assert mask.any() and not (mask & ~covered).any()


def test_absent_object_is_not_drawn() -> None:
    layout = _layout(
        [("dog", [(0.0, [0.1, 0.5, 0.3, 0.9]), (0.5, [0.1, 0.5, 0.3, 0.9])]),
         ("bird", [(1.5, [0.6, 0.1, 0.8, 0.3]), (2.0, [0.6, 0.1, 0.8, 0.3])])]
    )  # fmt: skip
    request = RenderRequest(layout=layout, fps=4)
    drawn = [d for _, d in AnimaticGenerator().render(request)]
    times = layout.frame_times(request.n_frames)
    for t, d in zip(times, drawn, strict=True):
        assert (0 in d) == (t <= 0.5)
        assert (1 in d) == (t >= 1.5)


def test_same_seed_same_frames_other_seed_other_background() -> None:
    gen = AnimaticGenerator()
    a = list(gen.frames(RenderRequest(layout=PAIR, fps=4, seed=1)))
    b = list(gen.frames(RenderRequest(layout=PAIR, fps=4, seed=1)))
    c = list(gen.frames(RenderRequest(layout=PAIR, fps=4, seed=2)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_sound_cue_follows_loudness_and_onsets() -> None:
    n = RenderRequest(layout=CROSSING, fps=8).n_frames
    quiet = SoundTraces({0: np.zeros(n, np.float32)}, {0: np.zeros(n, np.float32)}, {0: None})
    loud = SoundTraces({0: np.ones(n, np.float32)}, {0: np.zeros(n, np.float32)}, {0: None})
    hit = SoundTraces({0: np.zeros(n, np.float32)}, {0: np.ones(n, np.float32)}, {0: None})
    gen = AnimaticGenerator()
    bg = gen.background(RenderRequest(layout=CROSSING, fps=8))

    def first(sound: SoundTraces) -> np.ndarray:
        return next(gen.frames(RenderRequest(layout=CROSSING, fps=8, sound=sound))).astype(int)

    base = first(quiet)
    for sound in (loud, hit):
        frame = first(sound)
        ring = np.abs(frame - base).max(axis=2) > 0
        assert ring.sum() > 100  # a visible cue ...
        # ... that stands out more from the background than the quiet one
        assert np.abs(frame - bg)[ring].mean() > 1.5 * np.abs(base - bg)[ring].mean()


def _moving(xs: list[float], duration: float) -> VSL:
    """One object whose box centre passes through ``xs`` at evenly spaced keyframes."""
    times = np.linspace(0, duration, len(xs))
    return VSL(
        duration=duration,
        caption="A car.",
        objects=[{"id": 0, "name": "car"}],
        keyframes=[{"time": float(t), "boxes": [{"id": 0, "box": [x - 0.05, 0.4, x + 0.05, 0.6]}]}
                   for t, x in zip(times, xs, strict=True)],
    )  # fmt: skip


def _facings(layout: VSL, n: int, fps: float, natural: str) -> np.ndarray:
    facing = _Facing(layout, 0, n, fps, natural)
    return np.array([facing(i) for i in range(n)])


def test_facing_turns_with_motion() -> None:
    fps = 10
    right = _moving([0.1, 0.9], 4.0)
    assert _facings(right, 40, fps, "left").all()  # drawn facing left, moving right: mirrored
    assert not _facings(_moving([0.9, 0.1], 4.0), 40, fps, "left").any()
    assert not _facings(right, 40, fps, "front").any()
    still = _moving([0.5, 0.503, 0.498, 0.502, 0.5], 4.0)  # jitter is not a turn
    assert not _facings(still, 40, fps, "right").any()


def test_facing_block_by_block_equals_the_whole_video_at_once() -> None:
    # right, back left, right again, over several blocks of frames
    layout = _moving([0.2, 0.8, 0.3, 0.35, 0.9, 0.1], 60.0)
    fps, n = 12.0, 720
    xc = layout.interpolate(layout.frame_times(n))[0]
    x = (xc[:, 0] + xc[:, 2]) / 2
    k = int(round(fps))
    v = np.gradient(x) * fps
    v = np.convolve(np.pad(v, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, "valid")
    heading, want = ("right" if x[-1] > x[0] else "left"), []
    for vi in v:
        heading = "right" if vi > TURN_SPEED else "left" if vi < -TURN_SPEED else heading
        want.append(heading != "left")
    got = _facings(layout, n, fps, "left")
    assert n > 2 * FRAME_BLOCK and 0 < got.sum() < n
    np.testing.assert_array_equal(got, np.array(want))


def test_overlay_draws_boxes_and_captions() -> None:
    request = RenderRequest(layout=PAIR, fps=4)
    frame = next(AnimaticGenerator().frames(request))
    marked = Overlay(PAIR, request.n_frames).draw(frame, 0)
    assert marked.shape == frame.shape and marked.dtype == np.uint8
    diff = np.abs(marked.astype(int) - frame.astype(int)).max(axis=2) > 0
    x0 = int(round(PAIR.interpolate(request.n_frames)[0][0][0] * 512))
    assert diff[:, max(x0 - 1, 0) : x0 + 2].any()  # the box's left edge
    assert diff[-10:].mean() > 0.05  # the caption band at the bottom


def test_icons() -> None:
    assert icon_for("Two barking dogs").key == "dog"
    assert icon_for("police car").key == "police car"
    assert icon_for("old red tractor").key == "tractor"
    assert icon_for("Helicopters").key == "helicopter"
    assert icon_for("aeroplane").key == "airplane"
    assert icon_for("sound source") is GENERIC
    assert icon_for("xylograph") is GENERIC
    for name in [*known_names(), "sound source"]:
        rgba = raster(icon_for(name).emoji)
        assert rgba.shape[2] == 4 and rgba.shape[0] > 20 and (rgba[..., 3] > 0).mean() > 0.05


def test_setting_from_caption() -> None:
    assert pick_setting("A car drives down the street at night.") == ("street", True, False)
    assert pick_setting("Rain falls on a lake.")[0] == "water"
    assert pick_setting("A piano plays in a room.")[0] == "indoor"
    assert pick_setting("A cow on the left.")[0] == "field"
    assert pick_setting("A sound source on the left.")[0] == "outdoor"


def test_generator_registry() -> None:
    gen = get_generator("animatic")
    assert isinstance(gen, Generator) and gen.name == "animatic"
    with pytest.raises(ParameterError, match="animatic"):
        get_generator("sora")
    assert "animatic" in GENERATORS


def test_request_checks() -> None:
    odd = PAIR.model_copy(update={"width": 513, "height": 321})
    assert RenderRequest(layout=odd).size == (512, 320)
    with pytest.raises(ParameterError, match="even"):
        RenderRequest(layout=PAIR, width=511)
    with pytest.raises(ParameterError, match="frame rate"):
        RenderRequest(layout=PAIR, fps=0)
    short = SoundTraces({0: np.zeros(3)}, {0: np.zeros(3)}, {0: None})
    with pytest.raises(ParameterError, match="frames"):
        RenderRequest(layout=PAIR, fps=24, sound=short)


def test_memory_of_a_render_does_not_grow_with_the_layouts_duration() -> None:
    import tracemalloc

    from spa2v.generation.overlay import Overlay

    # a layout that claims four months: 2.5e8 frames at 24 fps (the old code held per-frame
    # arrays of the whole video, gigabytes before the first frame)
    layout = _moving([0.2, 0.8, 0.3, 0.9], 1e7)
    request = RenderRequest(layout=layout, fps=24, width=64, height=48)
    tracemalloc.start()
    try:
        frames = AnimaticGenerator().render(request)
        marks = Overlay(layout, request.n_frames)
        for i in range(600):
            frame, _ = next(frames)
            marks.draw(frame, i)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert request.n_frames > 10**8
    assert peak < 50 * 2**20, peak

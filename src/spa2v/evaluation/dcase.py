"""The DCASE2025 Task 3 stereo SELD dataset: its label files, a benchmark from them, and
spa2v's tracked sources written as predictions in its format.

The format is the official baseline's (``partha2409/DCASE2025_seld_baseline``:
``utils.load_labels`` and ``utils.write_to_dcase_output_format``) and the dataset generator's
(``SonyResearch/dcase2025_stereo_seld_data_generator``): one CSV per 5 s clip with the header
``frame,class,source,azimuth,distance,onscreen`` and one row per active event and 100 ms
frame —

* ``frame``: frame index from 0 (frame k covers ``k·0.1 … (k+1)·0.1`` s); frames without an
  event have no row;
* ``class``: 0–12, STARSS23's classes (:data:`CLASSES`);
* ``source``: the source's index in the recording (two events of one class are told apart by
  it);
* ``azimuth``: degrees, 0 ahead, + to the left (counter-clockwise, STARSS23's convention, the
  same as spa2v's), folded to the front half-plane −90 … 90 (stereo cannot tell front from
  back);
* ``distance``: centimetres;
* ``onscreen``: 1 when the event is inside the clip's video, else 0.

Audio: ``stereo_dev/<split>/<name>.wav`` (24 kHz stereo), labels:
``metadata_dev/<split>/<name>.csv``, splits ``dev-train-sony``, ``dev-train-tau``,
``dev-test-sony``, ``dev-test-tau``.

The camera: the dataset's perspective videos have a horizontal field of view of 100° and
640×360 pixels (the generator's README; ``out_u_fov_deg = 100`` in its code), so a source at
azimuth ``az`` is seen at ``x = 0.5 − 0.5·tan(az) / tan(50°)`` (a pinhole; :func:`screen_x`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spa2v.errors import ParameterError

#: Label frame length, s.
FRAME_S = 0.1
#: The dataset videos' horizontal field of view, degrees, and frame size, pixels.
FOV_DEG = 100.0
SCREEN = (640, 360)
#: Header of a label or prediction file.
HEADER = ("frame", "class", "source", "azimuth", "distance", "onscreen")
#: Distance written for a source at its nearest (spa2v hears only relative distance: this
#: scale is a proxy, not a measurement; 1.5 m is a plausible nearest talker in a room).
DISTANCE_REF_M = 1.5

#: STARSS23's 13 classes: the official name, the object drawn, and words that map a name or
#: a tagger's label onto the class.
CLASSES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Female speech, woman speaking", "woman speaking", ("woman", "female", "girl", "lady")),
    ("Male speech, man speaking", "man speaking", ("man", "male", "boy", "speech", "person",
                                                  "speaker", "talk", "voice")),
    ("Clapping", "clapping hands", ("clap", "clapping", "applause", "hands")),
    ("Telephone", "telephone", ("telephone", "phone", "ringtone")),
    ("Laughter", "person laughing", ("laughter", "laugh", "laughing", "giggle")),
    ("Domestic sounds", "vacuum cleaner", ("vacuum", "domestic", "fan", "boiler", "kettle",
                                          "appliance")),
    ("Walk, footsteps", "footsteps", ("footsteps", "footstep", "walk", "walking", "steps")),
    ("Door, open or close", "door", ("door", "cupboard")),
    ("Music", "loudspeaker music", ("music", "song", "radio")),
    ("Musical instrument", "musical instrument", ("guitar", "piano", "marimba", "xylophone",
                                                  "cowbell", "rattle", "instrument", "drum")),
    ("Water tap, faucet", "water tap", ("water", "tap", "faucet", "sink")),
    ("Bell", "bell", ("bell", "chime")),
    ("Knock", "knock", ("knock", "knocking")),
)  # fmt: skip


class LabelError(ParameterError):
    """A label file that is not in the DCASE format; the message names the file and line."""


@dataclass(frozen=True)
class LabelRow:
    """One event in one 100 ms frame."""

    frame: int
    cls: int
    source: int
    azimuth_deg: float
    distance_cm: float
    onscreen: int


def class_of(name: str | None) -> int | None:
    """The DCASE class of an object name or a tagger's label (None when none fits).

    Whole words are matched; the first class that has one wins (so "woman" is female speech
    before "speech" falls to male speech).
    """
    if not name:
        return None
    text = name.strip().lower()
    for k, (official, drawn, _) in enumerate(CLASSES):  # exact names first
        if text in (official.lower(), drawn):
            return k
    words = set(text.replace(",", " ").replace("-", " ").split())
    for k, (_, _, keys) in enumerate(CLASSES):
        if words & set(keys):
            return k
    return None


def screen_x(azimuth_deg: float | np.ndarray, fov_deg: float = FOV_DEG) -> np.ndarray:
    """Horizontal position in [0, 1] (0 = left edge) of a sound at ``azimuth_deg`` on the
    dataset's screen (a pinhole camera); outside 0 … 1 when off screen."""
    az = np.radians(np.clip(np.asarray(azimuth_deg, dtype=np.float64), -89.9, 89.9))
    return 0.5 - 0.5 * np.tan(az) / math.tan(math.radians(fov_deg) / 2)


def read_labels(
    path: str | Path, *, predictions: bool = False, frames: int | None = None
) -> list[LabelRow]:
    """The rows of a DCASE label file (or, with ``predictions``, of a prediction file, whose
    class may be −1: unknown).

    Frame, class, source and onscreen are integers, as the official ``load_labels`` reads
    them; with ``frames`` (the clip's length in 100 ms frames) a frame beyond it is refused.

    Raises
    ------
    LabelError
        For a missing header, a row that is not six values, a value that is not a number (an
        integer where one is due) or out of range, naming the file and the line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{p}: cannot read the label file ({exc})") from None
    lines = text.splitlines()
    head = tuple(c.strip().lower() for c in lines[0].split(",")) if lines else ()
    if head != HEADER:
        got = repr(lines[0].strip()[:60]) if lines else "an empty file"
        raise LabelError(f"{p} line 1: expected the header {','.join(HEADER)}, got {got}")
    rows: list[LabelRow] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(HEADER):
            raise LabelError(f"{p} line {n}: expected {len(HEADER)} comma-separated values "
                             f"({','.join(HEADER)}), got {len(cells)}")  # fmt: skip
        try:
            frame, cls, source = (int(c) for c in cells[:3])
            az, dist = float(cells[3]), float(cells[4])
            on = int(cells[5])
        except ValueError:
            raise LabelError(
                f"{p} line {n}: not a number (an integer for frame, class, source and "
                f"onscreen) in {line.strip()[:60]!r}"
            ) from None
        problem = (
            "frame is negative" if frame < 0
            else f"frame {frame} is beyond the clip ({frames} frames)"
            if frames is not None and frame >= frames
            else f"class {cls} is not one of 0 … {len(CLASSES) - 1}"
            if not (0 <= cls < len(CLASSES) or (predictions and cls == -1))
            else "source is negative" if source < 0
            else f"azimuth {az:g} is outside −180 … 180" if not -180 <= az <= 180
            else f"distance {dist:g} is negative or not finite"
            if not (math.isfinite(dist) and dist >= 0)
            else f"onscreen is {on}, not 0 or 1" if on not in (0, 1)
            else None
        )  # fmt: skip
        if problem:
            raise LabelError(f"{p} line {n}: {problem}")
        rows.append(LabelRow(frame, cls, source, _fold(az), dist, on))
    return rows


def _fold(az: float) -> float:
    """An azimuth folded to the front half-plane (−90 … 90), as the dataset does."""
    az = (az + 180.0) % 360.0 - 180.0
    return -180.0 - az if az < -90 else 180.0 - az if az > 90 else az


def write_rows(rows: list[LabelRow], path: str | Path | None = None) -> str:
    """Rows as DCASE CSV text (integer azimuth and distance, as the format has them),
    written atomically to ``path`` when given. Prediction rows of an unknown class (−1) are
    kept: the official scorer skips them."""
    lines = [",".join(HEADER)]
    for r in sorted(rows, key=lambda r: (r.frame, r.cls, r.source)):
        lines.append(f"{r.frame},{r.cls},{r.source},{round(r.azimuth_deg)},"
                     f"{round(r.distance_cm)},{r.onscreen}")  # fmt: skip
    text = "\n".join(lines) + "\n"
    if path is not None:
        from spa2v.media.files import atomic_write_text

        atomic_write_text(Path(path), text)
    return text


# ---------------------------------------------------------------------------------- import
@dataclass
class Track:
    """One source of one class in a clip: its frames and their values."""

    cls: int
    source: int
    frames: list[int]
    azimuth_deg: list[float]
    distance_cm: list[float]
    onscreen: list[int]

    @property
    def name(self) -> str:
        return CLASSES[self.cls][1]

    def at(self, frame: int) -> tuple[float, float, int] | None:
        """(azimuth, distance, onscreen) in ``frame``, None when silent."""
        try:
            k = self.frames.index(frame)
        except ValueError:
            return None
        return self.azimuth_deg[k], self.distance_cm[k], self.onscreen[k]

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "class_name": CLASSES[self.cls][0], "name": self.name,
                "source": self.source, "frames": self.frames, "azimuth_deg": self.azimuth_deg,
                "distance_cm": self.distance_cm, "onscreen": self.onscreen}  # fmt: skip


def tracks_of(rows: list[LabelRow]) -> list[Track]:
    """The clip's tracks (one per class and source), ordered left to right by mean azimuth."""
    tracks: dict[tuple[int, int], Track] = {}
    for r in sorted(rows, key=lambda r: r.frame):
        t = tracks.setdefault((r.cls, r.source), Track(r.cls, r.source, [], [], [], []))
        if t.frames and t.frames[-1] == r.frame:
            continue  # one event per class, source and frame
        t.frames.append(r.frame)
        t.azimuth_deg.append(r.azimuth_deg)
        t.distance_cm.append(r.distance_cm)
        t.onscreen.append(r.onscreen)
    return sorted(tracks.values(), key=lambda t: -float(np.mean(t.azimuth_deg)))


def truth_layout(tracks: list[Track], duration_s: float, *, caption: str = "") -> Any:
    """The ground-truth layout of a clip: one object per track, drawn where and when its
    labels say it is on screen (not at all while it is off screen or silent).

    Boxes: spa2v's camera model (:class:`~spa2v.layout.camera.Camera`) with the dataset's
    100° view and 640×360 frame, so that a planner that localises perfectly scores
    perfectly; their size and height follow the distance relative to the nearest event of
    the clip (ground objects: the labels have no elevation); the keyframes are the planners'
    (2 per second). Near the edges spa2v's camera draws a source up to about a tenth of the
    width further in than the dataset's video shows it (:func:`screen_x`): it keeps sources
    beyond the view in the frame.
    """
    from spa2v.layout.camera import Camera
    from spa2v.layout.vsl import VSL
    from spa2v.planning.base import PlanOptions

    camera = Camera(fov_deg=FOV_DEG, width=SCREEN[0], height=SCREEN[1])
    nearest = min((d for t in tracks for d in t.distance_cm if d > 0), default=1.0)
    last = max(int(round(duration_s / FRAME_S)) - 1, 0)
    keyframes = []
    for time in PlanOptions().keyframe_times(duration_s):
        frame = min(int(time / FRAME_S), last)
        boxes = []
        for oid, t in enumerate(tracks):
            now = t.at(frame)
            if now is None or not now[2]:
                continue
            az, dist, _ = now
            box = camera.box(az, max(dist, nearest) / nearest, t.name)
            boxes.append({"id": oid, "box": list(box)})
        keyframes.append({"time": round(time, 3), "boxes": boxes})
    names = [t.name for t in tracks]
    return VSL(duration=duration_s, caption=caption or ", ".join(dict.fromkeys(names)),
               objects=[{"id": k, "name": n} for k, n in enumerate(names)],
               keyframes=keyframes, width=SCREEN[0], height=SCREEN[1])  # fmt: skip


SPLITS = {"dev-test": "dev-test*", "dev-train": "dev-train*", "all": "dev-*"}


def label_files(root: str | Path, split: str) -> Iterator[Path]:
    """The label files of a split, in name order, one at a time."""
    if split not in SPLITS:
        raise ParameterError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    meta = Path(root) / "metadata_dev"
    if not meta.is_dir():
        raise ParameterError(f"{root}: not the DCASE2025 stereo SELD dataset (no metadata_dev "
                             "folder; see the README for how to fetch it)")  # fmt: skip
    folders = sorted(p for p in meta.glob(SPLITS[split]) if p.is_dir())
    if not folders:
        raise ParameterError(f"{meta}: no {SPLITS[split]} folder")
    for folder in folders:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".csv"))
        for name in names:
            yield folder / name


def _audio_problem(wav: Path) -> tuple[float, str | None]:
    """The clip's duration, and why it cannot be used (None when it can)."""
    from spa2v.audio.load import MonoAudioWarning, open_audio
    from spa2v.errors import Spa2vError

    try:
        with warnings.catch_warnings():  # a mono clip is reported as left out, not warned
            warnings.simplefilter("ignore", MonoAudioWarning)
            with open_audio(wav, sr=None) as stream:
                channels, duration = stream.source_channels, stream.duration_s
    except Spa2vError as exc:
        return 0.0, str(exc)
    if channels != 2:
        return 0.0, f"{channels} channel(s), not stereo"
    if not duration:
        return 0.0, "no duration"
    return float(duration), None


def _link(src: Path, dst: Path) -> None:
    """The clip in the benchmark without a copy where the file system allows it."""
    from spa2v.media.files import atomic_path

    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)  # a resumed import redoes the clip it was cut in
    try:
        os.link(src, dst)
    except OSError:
        try:
            dst.symlink_to(src.resolve())
        except OSError:
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)


def _done_so_far(out: Path, stamp: dict[str, Any]) -> set[str]:
    """The clips an interrupted import of the same data wrote into ``out``.

    Raises
    ------
    ParameterError
        When ``out`` holds anything else (naming what).
    """
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ParameterError(f"{out}: not a folder")
    if not any(out.iterdir()):
        return set()
    if (out / "manifest.jsonl").exists():
        raise ParameterError(f"{out}: already holds a benchmark (spa2v bench run it, or import "
                             "into a new folder)")  # fmt: skip
    try:
        before = json.loads((out / "import.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ParameterError(f"{out}: folder is not empty") from None
    if before != stamp:
        raise ParameterError(
            f"{out}: holds an interrupted import of {before.get('source')} (split "
            f"{before.get('split')}): rerun that command to finish it, or use a new folder"
        )
    part = out / "manifest.jsonl.part"
    if not part.exists():
        return set()
    done, kept = set(), []
    for line in part.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            row = json.loads(line) if line.endswith("\n") else None
        except ValueError:
            row = None
        if row is None:  # the line being written when the import stopped
            break
        done.add(row["name"])
        kept.append(line)
    part.write_text("".join(kept), encoding="utf-8")
    return done


def import_dcase2025(
    root: str | Path,
    outdir: str | Path,
    *,
    split: str = "dev-test",
    limit: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Write a spa2v benchmark (the layout ``spa2v bench make`` writes) from the dataset.

    Per clip: the audio (hard-linked, else linked, else copied) in ``clips/``, the
    ground-truth layout in ``gt/`` (:func:`truth_layout`: on-screen sources drawn), and in
    ``truth/`` every track with its per-frame azimuth, distance and on-screen flag (off-screen
    sources too); a manifest row with ``n_sources`` and ``family`` = "N source(s)" (1, 2, 3+:
    the benchmark's per-family table is then the count accuracy per number of sources).
    Clips with no event (a layout needs an object) and label files whose audio is missing or
    not stereo are left out and listed in ``benchmark.json`` with the reason.

    Streams: one clip at a time, the manifest appended line by line (memory does not grow
    with the number of clips). Interrupted, it resumes when run again into the same folder.

    Returns
    -------
    Path
        The manifest.

    Raises
    ------
    LabelError
        For a malformed label file (file and line named).
    ParameterError
        For a folder that is not the dataset, an output folder holding something else, or
        nothing to import.
    """
    from spa2v.media.files import atomic_write_text, dumps_json

    if limit is not None and limit < 1:
        raise ParameterError(f"--limit must be at least 1, got {limit}")
    root, out = Path(root), Path(outdir)
    files = label_files(root, split)  # checks the dataset before anything is written
    first = next(files, None)
    if first is None:
        raise ParameterError(f"{root}: no label file in the {split} split")
    stamp = {"dataset": "dcase2025", "source": str(root.resolve()), "split": split}
    done = _done_so_far(out, stamp)
    out.mkdir(parents=True, exist_ok=True)
    state, part = out / "import.json", out / "manifest.jsonl.part"
    atomic_write_text(state, dumps_json(stamp))
    count, left_out = len(done), []
    with part.open("a", encoding="utf-8") as manifest:
        for labels in _chain(first, files):
            if limit is not None and count >= limit:
                break
            name = labels.stem
            if name in done:
                continue
            wav = root / "stereo_dev" / labels.parent.name / f"{name}.wav"
            if not wav.is_file():
                left_out.append({"name": name, "why": "no audio"})
                continue
            duration, problem = _audio_problem(wav)
            if problem:
                left_out.append({"name": name, "why": problem})
                continue
            frames = int(math.ceil(duration / FRAME_S - 1e-6))
            tracks = tracks_of(read_labels(labels, frames=frames))
            if not tracks:
                left_out.append({"name": name, "why": "no event"})
                continue
            _link(wav, out / "clips" / f"{name}.wav")
            truth = {"schema": "spa2v.dcase-truth/1", "frame_s": FRAME_S, "fov_deg": FOV_DEG,
                     "duration_s": duration, "tracks": [t.to_json() for t in tracks]}  # fmt: skip
            atomic_write_text(out / "truth" / f"{name}.truth.json", dumps_json(truth))
            truth_layout(tracks, duration).save(out / "gt" / f"{name}.layout.json")
            n = len(tracks)
            row = {"index": count, "name": name, "audio": f"clips/{name}.wav",
                   "layout": f"gt/{name}.layout.json", "truth": f"truth/{name}.truth.json",
                   "labels": [t.name for t in tracks], "n_sources": n,
                   "mic": "dcase2025 stereo", "condition": labels.parent.name,
                   "family": f"{min(n, 3)}{'+' if n >= 3 else ''} source(s)"}  # fmt: skip
            manifest.write(dumps_json(row) + "\n")
            manifest.flush()
            count += 1
            if progress is not None:
                progress(count, limit)
    if count == 0:
        why = sorted({x["why"] for x in left_out})
        raise ParameterError(f"{root}: no clip to import from the {split} split (left out: "
                             f"{', '.join(why) or 'none'}; audio is read from "
                             "stereo_dev/<split>/<name>.wav)")  # fmt: skip
    meta = {"schema": "spa2v.bench/1", **stamp, "scenes": count, "left_out": left_out,
            "duration_s": 5.0, "fov_deg": FOV_DEG, "frame_size": list(SCREEN),
            "frame_s": FRAME_S}  # fmt: skip
    atomic_write_text(out / "benchmark.json", dumps_json(meta, indent=2))
    part.replace(out / "manifest.jsonl")
    state.unlink()
    return out / "manifest.jsonl"


def _chain(first: Path, rest: Iterator[Path]) -> Iterator[Path]:
    yield first
    yield from rest


# ---------------------------------------------------------------------------------- scores
def clip_scores(
    pred: Any, truth_path: str | Path, *, fov_deg: float = FOV_DEG,
    frame_size: tuple[int, int] = SCREEN,
) -> dict[str, Any]:  # fmt: skip
    """Azimuth error and on/off-screen agreement of a planned layout against a clip's labels.

    At each of the layout's keyframes, the labelled sources active in that 100 ms frame (on
    screen or not) are matched one to one with the planned objects present (Hungarian, on
    the azimuth difference); a planned object's azimuth is read back from its box centre
    through the planner's camera (:meth:`spa2v.layout.camera.Camera.azimuth_of_box`, which
    also reads boxes cut by the frame's edge; beyond about ±78° the camera's compression
    leaves no difference to read). A source
    counts as drawn on screen when it is matched and its planned azimuth is inside the field
    of view.

    Returns
    -------
    dict
        ``az_errors_deg`` (one per matched pair), ``onscreen_agree`` (one 0/1 per labelled
        source and keyframe).
    """
    from scipy.optimize import linear_sum_assignment

    from spa2v.layout.camera import Camera

    data = json.loads(Path(truth_path).read_text(encoding="utf-8"))
    tracks = [Track(t["class"], t["source"], t["frames"], t["azimuth_deg"], t["distance_cm"],
                    t["onscreen"]) for t in data["tracks"]]  # fmt: skip
    camera = Camera(fov_deg=fov_deg, width=frame_size[0], height=frame_size[1])
    names = {o.id: o.name for o in pred.objects}
    times = [kf.time for kf in pred.keyframes]
    interp = pred.interpolate(np.asarray(times)) if pred.objects else {}
    last = max(int(round(pred.duration / FRAME_S)) - 1, 0)
    errors: list[float] = []
    agree: list[int] = []
    for k, time in enumerate(times):
        frame = min(int(time / FRAME_S), last)
        truth = [(az, on) for t in tracks if (now := t.at(frame)) for az, _, on in [now]]
        planned = [camera.azimuth_of_box(b[k], names[oid])
                   for oid, b in interp.items() if not np.isnan(b[k]).any()]  # fmt: skip
        drawn = [False] * len(truth)
        if truth and planned:
            cost = np.abs(np.subtract.outer([a for a, _ in truth], planned))
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                errors.append(float(cost[r, c]))
                drawn[r] = abs(planned[c]) <= fov_deg / 2
        agree += [int(d == bool(on)) for d, (_, on) in zip(drawn, truth, strict=True)]
    return {"az_errors_deg": errors, "onscreen_agree": agree}


# ---------------------------------------------------------------------------------- export
def predictions(
    sheet: Any, classes: list[int | None], *, fov_deg: float = FOV_DEG
) -> list[LabelRow]:
    """spa2v's tracked sources as DCASE rows, one per source and 100 ms frame where it is
    heard.

    Per frame and source: heard when it has a direction of its own in at least half of the
    frame's analysis frames (and the frame is not silent); azimuth = their median; distance
    = :data:`DISTANCE_REF_M` × the source's relative distance (its loudest frame = 1, ×2 per
    6 dB quieter: a proxy); on screen when the azimuth is inside ``fov_deg``; class from
    ``classes`` (per source, left to right; −1 where none is known: the official scorer then
    ignores the row).

    Raises
    ------
    ParameterError
        For cues of a mono recording (or identical channels): no azimuth to write.
    """
    if not sheet.spatial:
        raise ParameterError(f"{sheet.source or 'the recording'}: no left/right information "
                             "(mono or identical channels), so no azimuth to export")  # fmt: skip
    t = np.asarray(sheet.frames.time_s, dtype=np.float64)
    active = np.asarray(sheet.frames.activity, dtype=np.float64) > 0.5
    n_frames = max(int(math.ceil(sheet.duration_s / FRAME_S - 1e-9)), 0)
    bins = np.clip((t / FRAME_S).astype(int), 0, max(n_frames - 1, 0))
    # the analysis frames of label frame k are bins[edges[k]:edges[k + 1]] (times increase)
    edges = np.searchsorted(bins, np.arange(n_frames + 1), side="left")
    rows: list[LabelRow] = []
    for src in sheet.sources:
        if not src.localised:
            continue
        az = np.asarray(src.azimuth_deg, dtype=np.float64)
        heard = (np.asarray(src.heard, dtype=np.float64) > 0.5 if src.heard is not None
                 else np.asarray(src.share, dtype=np.float64) >= 0.2) & active  # fmt: skip
        loud = np.asarray(src.loudness_lufs, dtype=np.float64)
        top = np.nanmax(np.where(heard, loud, np.nan)) if heard.any() else np.nan
        cls = classes[src.id] if src.id < len(classes) else None
        for k in range(n_frames):
            lo, hi = int(edges[k]), int(edges[k + 1])
            if hi == lo or heard[lo:hi].mean() < 0.5:
                continue
            sel = heard[lo:hi]
            a = float(np.median(az[lo:hi][sel]))
            level = float(np.median(loud[lo:hi][sel]))
            d_rel = 10 ** ((top - level) / 20) if np.isfinite(top) and np.isfinite(level) else 1
            rows.append(LabelRow(k, -1 if cls is None else cls, src.id, _fold(a),
                                 100 * DISTANCE_REF_M * max(1.0, d_rel),
                                 int(abs(a) <= fov_deg / 2)))  # fmt: skip
    return rows


__all__ = ["CLASSES", "FOV_DEG", "HEADER", "LabelError", "LabelRow", "Track", "class_of",
           "clip_scores", "import_dcase2025", "predictions", "read_labels", "screen_x",
           "tracks_of", "truth_layout", "write_rows"]  # fmt: skip

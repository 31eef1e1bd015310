"""Judge a generated video: is each object where the layout put it?

For sampled frames, an open-vocabulary detector looks for each object by its name (OWLv2,
Minderer et al. 2023, or Grounding DINO, Liu et al. 2023, through transformers; the models
load from this machine, never downloaded), the detections are matched one to one with the
planned boxes of that name (Hungarian, on IoU), and per object and overall the judge reports:

* ``detection_rate``: frames where the object was found / frames where the layout shows it;
* ``iou``: IoU of the matched detection with the planned box (0 where it was not found);
* ``centre_error``: distance of the centres, in frame widths/heights (found frames only);
* ``side_agreement``: the found object on the same side (left / right of the centre, a
  central band of ±5% counting as either) as its planned box *and* as the sound — the tracked
  source's measured azimuth at that time (objects and sources both ordered left to right;
  without audio, the planned box alone) — a Spatial AV-Align in the spirit of SAVGBench.

LVD (Lian et al., ICLR 2024) scores its videos with OWL-ViT detections the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from spa2v.errors import ParameterError, Spa2vError
from spa2v.layout.vsl import VSL

#: The detectors (``--detector``) and the models they load unless told otherwise.
DETECTORS = {"owlv2": "google/owlv2-base-patch16-ensemble",
             "grounding-dino": "IDEA-Research/grounding-dino-tiny"}  # fmt: skip
#: Half-width of the central band that agrees with either side, fraction of the frame.
CENTRE_BAND = 0.05


class JudgeError(Spa2vError, RuntimeError):
    """The judge cannot run (a detector model that does not load, an unreadable video)."""


@dataclass(frozen=True)
class Detection:
    """One detected object: its name, box ``[x0, y0, x1, y1]`` (normalised, top-left origin)
    and score."""

    name: str
    box: tuple[float, float, float, float]
    score: float


class Detector(Protocol):
    """Finds named objects in an RGB frame."""

    def preflight(self) -> None: ...

    def detect(self, frame: np.ndarray, names: list[str]) -> list[Detection]: ...


class ModelDetector:
    """OWLv2 or Grounding DINO from transformers (``kind``), weights from this machine.

    Parameters
    ----------
    kind : {"owlv2", "grounding-dino"}
    model : str or None
        Local folder or hub id in the local cache (default: :data:`DETECTORS`).
    threshold : float
        Lowest score kept.
    device : str or None
        A torch device (default: cuda when available).
    """

    def __init__(self, kind: str, model: str | None = None, *, threshold: float = 0.1,
                 device: str | None = None) -> None:  # fmt: skip
        if kind not in DETECTORS:
            raise ParameterError(f"--detector must be none, owlv2 or grounding-dino; got {kind!r}")
        self.kind, self.model_ref = kind, model or DETECTORS[kind]
        self.threshold, self.device = threshold, device
        self._folder: str | None = None
        self._model: Any = None
        self._processor: Any = None

    def preflight(self) -> None:
        """The extra is installed and the weights are on this machine (nothing downloaded)."""
        from spa2v.extras import require
        from spa2v.weights import resolve_weights

        require("detection", f"the {self.kind} detector")
        self._folder = resolve_weights(self.model_ref, "detector model")
        import json

        config = Path(self._folder) / "config.json"
        try:
            kind = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError):
            raise JudgeError(f"the detector model {self.model_ref!r} is not a transformers model "
                             "folder (no readable config.json)") from None  # fmt: skip
        expected = {"owlv2": "owlv2", "grounding-dino": "grounding-dino"}[self.kind]
        if kind != expected:
            raise JudgeError(f"the detector model {self.model_ref!r} is a {kind} model, not "
                             f"{expected} (--detector {self.kind})")  # fmt: skip

    def _load(self) -> None:
        if self._model is not None:
            return
        if self._folder is None:
            self.preflight()
        import torch
        import transformers

        cls = (transformers.Owlv2ForObjectDetection if self.kind == "owlv2"
               else transformers.GroundingDinoForObjectDetection)  # fmt: skip
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # spa2v shows its own progress
        try:
            self._processor = transformers.AutoProcessor.from_pretrained(self._folder)
            self._model = cls.from_pretrained(self._folder).eval()
        except (OSError, ValueError) as exc:
            raise JudgeError(f"cannot load the detector model {self.model_ref!r} "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None  # fmt: skip
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model.to(device)

    def detect(self, frame: np.ndarray, names: list[str]) -> list[Detection]:
        """Detections of ``names`` in ``frame`` (``(height, width, 3)`` uint8 RGB)."""
        import torch

        self._load()
        h, w = frame.shape[:2]
        device = self._model.device
        with torch.no_grad():
            if self.kind == "owlv2":
                inputs = self._processor(text=[names], images=frame, return_tensors="pt")
                outputs = self._model(**inputs.to(device))
                side = max(h, w)  # OWLv2 pads the image to a square at the bottom right
                found = self._processor.post_process_grounded_object_detection(
                    outputs, threshold=self.threshold, target_sizes=[(side, side)],
                    text_labels=[names],
                )[0]  # fmt: skip
                labels = [names[int(k)] for k in found["labels"]]
            else:
                text = ". ".join(n.lower() for n in names) + "."
                inputs = self._processor(images=frame, text=text, return_tensors="pt")
                outputs = self._model(**inputs.to(device))
                found = self._processor.post_process_grounded_object_detection(
                    outputs, inputs.input_ids, threshold=self.threshold,
                    text_threshold=self.threshold, target_sizes=[(h, w)],
                )[0]  # fmt: skip
                labels = [_name_of(str(t), names) for t in found["text_labels"]]
        out = []
        for label, box, score in zip(labels, found["boxes"].tolist(), found["scores"].tolist(),
                                     strict=True):  # fmt: skip
            if label is None:
                continue
            x0, y0, x1, y1 = box
            norm = (min(max(x0 / w, 0.0), 1.0), min(max(y0 / h, 0.0), 1.0),
                    min(max(x1 / w, 0.0), 1.0), min(max(y1 / h, 0.0), 1.0))  # fmt: skip
            out.append(Detection(label, norm, float(score)))
        return out


def _name_of(phrase: str, names: list[str]) -> str | None:
    """The object name a detector's phrase refers to (its words found in the phrase)."""
    words = phrase.lower().replace(".", " ").split()
    if not words:
        return None
    text = " " + " ".join(words) + " "
    best = [n for n in names if f" {n.lower()} " in text]  # whole words: "man" is not "woman"
    return max(best, key=len) if best else None


def get_detector(kind: str, model: str | None = None, **kwargs: Any) -> Detector | None:
    """The detector called ``kind`` (None for ``none``)."""
    return None if kind == "none" else ModelDetector(kind, model, **kwargs)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _side(x: float) -> int:
    """-1 left, +1 right, 0 the central band (agrees with either)."""
    return 0 if abs(x - 0.5) <= CENTRE_BAND else (-1 if x < 0.5 else 1)


def _agree(*sides: int) -> bool:
    firm = {s for s in sides if s != 0}
    return len(firm) <= 1


def score_frames(
    layout: VSL,
    times: np.ndarray,
    detections: list[list[Detection]],
    audio_x: dict[int, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The judge's numbers for frames at ``times`` and their detections.

    ``audio_x``: per object id, the horizontal position (0 left … 1 right) the sound gives
    at each time (NaN where unknown); None: the planned box alone decides the side.

    Returns
    -------
    dict
        ``objects`` (per object name: ``frames``, ``detection_rate``, ``iou``,
        ``centre_error``, ``side_agreement``), the same four ``overall`` (frame-weighted),
        and ``matches`` (per frame: object id → detection index) for drawing.
    """
    interp = layout.interpolate(np.asarray(times, dtype=np.float64))
    names = {o.id: o.name for o in layout.objects}
    per: dict[int, dict[str, list[float]]] = {
        oid: {"found": [], "iou": [], "err": [], "side": []} for oid in names
    }
    matches: list[dict[int, int]] = []
    for k, dets in enumerate(detections):
        present = [oid for oid, b in interp.items() if not np.isnan(b[k]).any()]
        chosen: dict[int, int] = {}
        for name in {names[o] for o in present}:
            objs = [o for o in present if names[o] == name]
            cand = [i for i, d in enumerate(dets) if d.name == name]
            if cand:
                iou = np.array([[_iou(interp[o][k], np.asarray(dets[i].box)) for i in cand]
                                for o in objs])  # fmt: skip
                # an unmatched detection of the same name still counts as found: prefer IoU,
                # then any detection of the name
                rows, cols = linear_sum_assignment(-(iou + 1e-3))
                chosen.update({objs[r]: cand[c] for r, c in zip(rows, cols, strict=True)})
        matches.append(chosen)
        for oid in present:
            box = interp[oid][k]
            stats = per[oid]
            if oid not in chosen:
                stats["found"].append(0.0)
                stats["iou"].append(0.0)
                continue
            det = np.asarray(dets[chosen[oid]].box)
            stats["found"].append(1.0)
            stats["iou"].append(_iou(box, det))
            cb, cd = (box[:2] + box[2:]) / 2, (det[:2] + det[2:]) / 2
            stats["err"].append(float(np.linalg.norm(cb - cd)))
            heard = audio_x.get(oid) if audio_x else None
            sides = [_side(float(cd[0])), _side(float(cb[0]))]
            if heard is not None and np.isfinite(heard[k]):
                sides.append(_side(float(heard[k])))
            stats["side"].append(float(_agree(*sides)))

    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else float("nan")

    objects = {}
    twice = {n for n in names.values() if list(names.values()).count(n) > 1}
    for oid, s in per.items():
        label = f"{names[oid]} #{oid}" if names[oid] in twice else names[oid]
        objects[label] = {"frames": len(s["found"]), "detection_rate": mean(s["found"]),
                          "iou": mean(s["iou"]), "centre_error": mean(s["err"]),
                          "side_agreement": mean(s["side"])}  # fmt: skip
    pooled = {k: [v for s in per.values() for v in s[k]] for k in ("found", "iou", "err", "side")}
    overall = {"frames": len(times), "detection_rate": mean(pooled["found"]),
               "iou": mean(pooled["iou"]), "centre_error": mean(pooled["err"]),
               "side_agreement": mean(pooled["side"])}  # fmt: skip
    return {"objects": objects, "overall": overall, "matches": matches}


def read_frames(video: str | Path, times: np.ndarray) -> list[np.ndarray]:
    """The video's frames nearest to ``times`` (RGB uint8), decoded once, in order."""
    import av

    frames: list[np.ndarray | None] = [None] * len(times)
    try:
        with av.open(str(video)) as c:
            if not c.streams.video:
                raise JudgeError(f"{video}: no video stream")
            stream = c.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24.0)
            wanted: dict[int, list[int]] = {}
            for i, t in enumerate(times):  # several samples may fall on one frame
                wanted.setdefault(max(int(round(t * fps - 0.5)), 0), []).append(i)
            last = None
            for n, frame in enumerate(c.decode(stream)):
                last = frame
                if n in wanted:
                    image = frame.to_ndarray(format="rgb24")
                    for i in wanted[n]:
                        frames[i] = image
                if all(f is not None for f in frames):
                    break
            for i, f in enumerate(frames):  # times beyond the last frame: the last frame
                if f is None and last is not None:
                    frames[i] = last.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise JudgeError(f"{video}: not a readable video ({exc})") from None
    if any(f is None for f in frames):
        raise JudgeError(f"{video}: the video has no frames")
    return [f for f in frames if f is not None]


def audio_positions(
    layout: VSL, audio: str | Path | None, times: np.ndarray, fov_deg: float, sheet: Any = None
) -> dict:
    """Per object, where the sound puts it at ``times`` (0 left … 1 right): the tracked
    sources' azimuths (of ``sheet``, else measured from ``audio``) through the camera, objects
    and sources both ordered left to right."""
    from spa2v.audio.cues import analyze_file
    from spa2v.layout.camera import Camera

    sheet = sheet or analyze_file(audio)
    cam = Camera(fov_deg=fov_deg)
    t_cue = np.asarray(sheet.frames.time_s)
    interp = layout.interpolate(np.asarray(times))
    order = sorted(interp, key=lambda o: float(np.nanmean((interp[o][:, 0] + interp[o][:, 2]) / 2))
                   if not np.isnan(interp[o]).all() else 1.0)  # fmt: skip
    sources = sorted(sheet.sources, key=lambda s: -s.azimuth_mean_deg)
    out = {}
    for oid, src in zip(order, sources, strict=False):
        az = np.interp(times, t_cue, np.asarray(src.azimuth_deg))
        out[oid] = cam.x_of(az)
    return out


def contact_sheet(
    path: str | Path, frames: list[np.ndarray], times: np.ndarray, layout: VSL,
    detections: list[list[Detection]], matches: list[dict[int, int]] | None = None, *,
    columns: int = 4,
) -> Path:  # fmt: skip
    """A PNG grid of the sampled frames, written atomically: planned boxes (green, named),
    the detections matched with them (red, named with their score) and the other detections
    (thin grey)."""
    from PIL import Image, ImageDraw

    from spa2v.media.files import atomic_path

    h, w = frames[0].shape[:2]
    scale = min(1.0, 320 / w)
    tw, th = int(w * scale), int(h * scale)
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * tw, rows * (th + 14)), "white")
    interp = layout.interpolate(np.asarray(times))
    names = {o.id: o.name for o in layout.objects}
    for k, frame in enumerate(frames):
        tile = Image.fromarray(frame).resize((tw, th))
        draw = ImageDraw.Draw(tile)

        def px(box: Any) -> list[int]:
            return [round(float(box[0]) * tw), round(float(box[1]) * th),
                    round(float(box[2]) * tw), round(float(box[3]) * th)]  # fmt: skip

        for oid, b in interp.items():
            if not np.isnan(b[k]).any():
                x0, y0, x1, y1 = px(b[k])
                draw.rectangle([x0, y0, max(x1, x0), max(y1, y0)], outline=(0, 200, 0), width=2)
                draw.text((x0 + 2, y0 + 1), names[oid], fill=(0, 160, 0))
        matched = set(matches[k].values()) if matches else set(range(len(detections[k])))
        for i, d in enumerate(detections[k]):
            if i not in matched:
                x0, y0, x1, y1 = px(d.box)
                draw.rectangle([x0, y0, max(x1, x0), max(y1, y0)], outline=(170, 170, 170))
        for i in sorted(matched):
            d = detections[k][i]
            x0, y0, x1, y1 = px(d.box)
            draw.rectangle([x0, y0, max(x1, x0), max(y1, y0)], outline=(220, 0, 0), width=2)
            draw.text((x0 + 2, max(y1 - 11, 0)), f"{d.name} {d.score:.2f}", fill=(220, 0, 0))
        x, y = (k % columns) * tw, (k // columns) * (th + 14)
        sheet.paste(tile, (x, y))
        legend = f"{times[k]:.2f} s  green: planned, red: matched, grey: other"
        ImageDraw.Draw(sheet).text((x + 2, y + th + 1), legend, fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)


def judge_video(
    video: str | Path,
    layout: VSL,
    detector: Detector,
    *,
    samples: int = 8,
    audio: str | Path | None = None,
    cue_sheet: Any = None,
    fov_deg: float = 90.0,
    sheet_path: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Detect each object by name in ``samples`` frames of ``video`` and score them against
    ``layout`` (:func:`score_frames`); with ``sheet_path``, also write the contact sheet.

    The sound's side comes from ``cue_sheet`` (the run's), else from ``audio`` measured
    again; ``fov_deg`` is the planner's camera.

    Raises
    ------
    JudgeError
        For an unreadable video or a detector that cannot load.
    """
    if not 1 <= samples <= 256:
        raise ParameterError(f"--samples must be within 1 … 256, got {samples}")
    from spa2v.media.video import probe_video

    try:
        info = probe_video(video)
    except Spa2vError as exc:
        raise JudgeError(str(exc)) from None
    length = info.get("video_duration_s") or 0.0
    if length and abs(length - layout.duration) > max(0.5, 0.05 * layout.duration):
        raise JudgeError(f"{video} is {length:.2f} s long but its layout {layout.duration:.2f} s: "
                         "judge a video with the layout it was made from")  # fmt: skip
    times = layout.frame_times(samples)
    frames = read_frames(video, times)
    interp = layout.interpolate(np.asarray(times))
    names = {o.id: o.name for o in layout.objects}
    detections = []
    for k, frame in enumerate(frames):
        wanted = sorted({names[o] for o, b in interp.items() if not np.isnan(b[k]).any()})
        detections.append(detector.detect(frame, wanted) if wanted else [])
        if progress is not None:
            progress(k + 1, len(frames))
    heard = (audio_positions(layout, audio, times, fov_deg, cue_sheet)
             if audio is not None or cue_sheet is not None else None)  # fmt: skip
    scores = score_frames(layout, times, detections, heard)
    matches = scores.pop("matches")
    scores["samples"] = samples
    scores["sound_side"] = heard is not None  # whether the sound took part in side agreement
    if sheet_path is not None:
        contact_sheet(sheet_path, frames, times, layout, detections, matches)
    return scores

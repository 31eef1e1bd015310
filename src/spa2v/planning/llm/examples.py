"""In-context examples: a bank of (cues → layout) pairs and nearest-neighbour retrieval.

The bank shipped with spa2v (``bank.jsonl``) holds no audio: each example is the cue text of a
synthetic scene at its keyframe times, the scene's cue feature vector
(:func:`~spa2v.planning.llm.cuetext.cue_features`) and the answer a planner should give — the
ground-truth layout seen through the camera model (:func:`spa2v.layout.truth.
layout_from_truth`), with reasoning that cites the measured cues. ``make bank`` rebuilds it
(:func:`build_bank`).

User banks come from folders (``--examples DIR``): ``*.jsonl`` files in the same format, and
recordings with a layout next to them (``street.wav`` + ``street.layout.json``), whose cues are
measured when the bank is loaded.

Retrieval standardises every feature by its spread over the bank and returns the ``k`` nearest
examples (Euclidean distance), nearest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from spa2v.audio.load import AUDIO_SUFFIXES
from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL, LayoutError
from spa2v.planning.llm.cuetext import N_FEATURES, cue_features, cue_text

#: The bank shipped with the package.
BUILTIN_BANK = "bank.jsonl"
#: Keyframes per in-context example (the paper's examples use 5).
EXAMPLE_KEYFRAMES = 5


@dataclass(frozen=True)
class Example:
    """One in-context example."""

    id: str
    features: np.ndarray
    cues: str
    times: list[float]
    duration: float
    width: int
    height: int
    answer: dict[str, Any]

    def to_json(self) -> str:
        """One JSONL line."""
        return json.dumps(
            {
                "id": self.id,
                "features": [round(float(v), 4) for v in self.features],
                "duration": self.duration,
                "width": self.width,
                "height": self.height,
                "times": self.times,
                "cues": self.cues,
                "answer": self.answer,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str) -> Example:
        try:
            feats = np.asarray(d["features"], dtype=np.float64)
            if feats.shape != (N_FEATURES,) or not np.all(np.isfinite(feats)):
                raise ValueError(f"features must be {N_FEATURES} finite numbers")
            answer = d["answer"]
            if not isinstance(answer, dict) or "keyframes" not in answer:
                raise ValueError("answer must be a layout object")
            return cls(
                id=str(d["id"]),
                features=feats,
                cues=str(d["cues"]),
                times=[float(t) for t in d["times"]],
                duration=float(d["duration"]),
                width=int(d.get("width", 512)),
                height=int(d.get("height", 320)),
                answer=answer,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: not a valid example ({exc})") from None


def answer_from_layout(layout: VSL, reasoning: str) -> dict[str, Any]:
    """A layout in the form the model is asked to answer in (objects keep their order)."""
    return {
        "reasoning": reasoning,
        "caption": layout.caption,
        "objects": [
            {"id": o.id, "name": o.name, "source": k} for k, o in enumerate(layout.objects)
        ],
        "keyframes": [
            {
                "time": round(kf.time, 3),
                "caption": kf.caption,
                "boxes": [{"id": b.id, "box": [round(v, 3) for v in b.box]} for b in kf.boxes],
            }
            for kf in layout.keyframes
        ],
    }


def example_from_recording(audio: Path, layout: VSL) -> Example:
    """An example from a user's recording and its (hand-made or corrected) layout."""
    from spa2v.audio.cues import CueParams, analyze_file
    from spa2v.planning.heuristic import CuePlanner

    cues = analyze_file(audio, params=CueParams(n_sources=min(len(layout.objects), 3)))
    times = [kf.time for kf in layout.keyframes]
    reasoning = CuePlanner().plan(cues, None, _options(layout, times)).reasoning
    return Example(
        id=f"user:{audio.name}",
        features=cue_features(cues),
        cues=cue_text(cues, times),
        times=times,
        duration=layout.duration,
        width=layout.width,
        height=layout.height,
        answer=answer_from_layout(layout, reasoning),
    )


def _options(layout: VSL, times: list[float]):
    from spa2v.planning.base import PlanOptions

    return PlanOptions(
        labels=tuple(o.name for o in layout.objects),
        keyframes=len(times),
        width=layout.width,
        height=layout.height,
    )


class ExampleBank:
    """Examples and their standardised features.

    Parameters
    ----------
    examples : sequence of Example
        The bank.
    """

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)
        if self.examples:
            feats = np.stack([e.features for e in self.examples])
            self._scale = np.maximum(feats.std(axis=0), 0.05)
            self._feats = feats / self._scale
        else:
            self._scale = np.ones(N_FEATURES)
            self._feats = np.zeros((0, N_FEATURES))

    def __len__(self) -> int:
        return len(self.examples)

    @classmethod
    def load(cls, folders: Iterable[str | Path] = (), *, builtin: bool = True) -> ExampleBank:
        """The shipped bank (unless ``builtin=False``) plus every user folder.

        Raises
        ------
        ParameterError
            For a missing folder, a malformed bank line or an invalid layout file.
        """
        examples: list[Example] = list(_builtin_examples()) if builtin else []
        for folder in folders:
            examples += _load_folder(Path(folder))
        return cls(examples)

    def nearest(self, features: np.ndarray, k: int) -> list[Example]:
        """The ``k`` examples nearest to ``features``, nearest first (ties: bank order)."""
        if k <= 0 or not self.examples:
            return []
        q = np.asarray(features, dtype=np.float64) / self._scale
        dist = np.linalg.norm(self._feats - q, axis=1)
        order = np.argsort(dist, kind="stable")[:k]
        return [self.examples[i] for i in order]


@lru_cache(maxsize=1)
def _builtin_examples() -> tuple[Example, ...]:
    """The shipped bank, parsed once per process (every LLM planner reads it)."""
    text = (resources.files("spa2v.planning.llm") / BUILTIN_BANK).read_text("utf-8")
    return tuple(_parse_lines(text, where=f"spa2v/planning/llm/{BUILTIN_BANK}"))


def _parse_lines(text: str, *, where: str) -> list[Example]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"{where}:{n}: not JSON ({exc.msg})") from None
        out.append(Example.from_dict(d, where=f"{where}:{n}"))
    return out


def _load_folder(folder: Path) -> list[Example]:
    if not folder.is_dir():
        raise ParameterError(f"{folder}: example folder not found")
    out: list[Example] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".jsonl":
            out += _parse_lines(path.read_text(encoding="utf-8"), where=str(path))
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            layout_path = path.with_name(path.stem + ".layout.json")
            if not layout_path.exists():
                continue
            try:
                layout = VSL.load(layout_path)
            except LayoutError as exc:
                raise ParameterError(f"example {exc}") from None
            out.append(example_from_recording(path, layout))
    if not out:
        raise ParameterError(
            f"{folder}: no examples (*.jsonl files, or recordings with a NAME.layout.json)"
        )
    return out


# --------------------------------------------------------------------------- building the bank
#: What the synthetic kinds are called in the examples.
_NAMES = {
    "engine": ("car", "truck", "motorcycle", "bus", "tractor"),
    "speech": ("person", "woman", "man", "child"),
    "bursts": ("dog", "hammer", "footsteps", "door"),
    "chirps": ("bird", "birds", "parrot"),
    "hum": ("fan", "refrigerator", "transformer"),
    "noise": ("waterfall", "fountain", "air conditioner"),
}
_FLYING_ENGINES = ("helicopter", "airplane", "drone")


def build_bank(n_per_family: int = 6, *, seed: int = 0, duration_s: float = 5.0) -> list[Example]:
    """Synthetic examples with ground truth, across microphone models and rooms.

    Families: a static source on the left, in the centre and on the right; a crossing from
    left to right and from right to left; a pass-by; an approach; a recession; two sources
    on opposite sides; three sources (left, centre, right). Microphone models and rooms
    (dry, or RT60 0.5 s with noise) alternate.

    Parameters
    ----------
    n_per_family : int
        Examples per family.
    seed : int
        Seed of the scene draws.
    duration_s : float
        Length of each scene.

    Returns
    -------
    list of Example
    """
    from spa2v.audio.cues import CueParams, compute_cues
    from spa2v.audio.synth import MIC_MODELS, SceneSource, Trajectory, render_scene
    from spa2v.layout.truth import layout_from_truth
    from spa2v.planning.base import PlanOptions
    from spa2v.planning.heuristic import CuePlanner

    rng = np.random.default_rng(seed)
    d = duration_s
    times = PlanOptions(keyframes=EXAMPLE_KEYFRAMES).keyframe_times(d)

    def pick(kind: str, flying: bool = False) -> str:
        names = _FLYING_ENGINES if flying else _NAMES[kind]
        return str(names[rng.integers(len(names))])

    def family(name: str) -> list[SceneSource]:
        kinds = ("engine", "speech", "bursts", "chirps", "hum", "noise")
        kind = str(kinds[rng.integers(len(kinds))])
        if name.startswith("static"):
            az = {"static-left": rng.uniform(30, 75), "static-centre": rng.uniform(-6, 6),
                  "static-right": -rng.uniform(30, 75)}[name]  # fmt: skip
            return [SceneSource(pick(kind), kind, Trajectory.static(az, rng.uniform(2, 8)))]
        if name in ("left-to-right", "right-to-left"):
            a0 = rng.uniform(45, 80) * (1 if name == "left-to-right" else -1)
            fly = rng.random() < 0.4
            label = pick("engine", flying=fly)
            traj = Trajectory.sweep(d, a0, -a0, rng.uniform(5, 25))
            return [SceneSource(label, "engine", traj)]
        if name == "passby":
            ltr = rng.random() < 0.5
            traj = Trajectory.line(d, speed_mps=rng.uniform(8, 15), closest_m=rng.uniform(3, 6),
                                   t_closest_s=d / 2, left_to_right=ltr)  # fmt: skip
            return [SceneSource(pick("engine"), "engine", traj)]
        if name in ("approach", "recede"):
            az = rng.uniform(-25, 25)
            far, near = rng.uniform(30, 40), rng.uniform(4, 6)
            d0, d1 = (far, near) if name == "approach" else (near, far)
            return [SceneSource(pick("engine"), "engine", Trajectory.sweep(d, az, az, d0, d1))]
        kinds_n = rng.choice(["engine", "speech", "bursts", "hum", "noise"], 3, replace=False)
        azs = [rng.uniform(35, 75), -rng.uniform(35, 75)]
        if name == "three":
            azs = [rng.uniform(45, 75), rng.uniform(-8, 8), -rng.uniform(45, 75)]
        return [
            SceneSource(pick(str(k)), str(k), Trajectory.static(a, rng.uniform(2, 6)),
                        level_db=float(rng.uniform(-2, 2)))
            for k, a in zip(kinds_n, azs, strict=False)
        ]  # fmt: skip

    families = ("static-left", "static-centre", "static-right", "left-to-right",
                "right-to-left", "passby", "approach", "recede", "two", "three")  # fmt: skip
    out: list[Example] = []
    k = 0
    for fam in families:
        for j in range(n_per_family):
            mic = MIC_MODELS[j % len(MIC_MODELS)]
            room = {"rt60_s": 0.5, "snr_db": 15.0} if j % 2 else {}
            for _ in range(20):  # draw until the measured cues support the truth
                sources = family(fam)
                scene = render_scene(sources, duration_s=d, mic=mic, seed=seed * 1000 + k, **room)
                k += 1
                cues = compute_cues(
                    scene.audio, sr=scene.sr, params=CueParams(n_sources=len(sources))
                )
                truth_layout = layout_from_truth(scene.truth, times)
                names = tuple(o.name for o in truth_layout.objects)
                opts = PlanOptions(labels=names, keyframes=EXAMPLE_KEYFRAMES)
                planned = CuePlanner().plan(cues, None, opts)
                if _agrees(planned, truth_layout):
                    break
            # the cue planner's citations of the measured cues (its first sentence is about
            # how the number of sources was found, which the examples do not need)
            reasoning = planned.reasoning.split(". ", 1)[-1]
            out.append(
                Example(
                    id=f"synthetic:{fam}:{mic}:{'room' if room else 'dry'}:{j}",
                    features=cue_features(cues),
                    cues=cue_text(cues, times),
                    times=times,
                    duration=d,
                    width=truth_layout.width,
                    height=truth_layout.height,
                    answer=answer_from_layout(truth_layout, reasoning),
                )
            )
    return out


def _agrees(planned: VSL, truth: VSL) -> bool:
    """Whether a layout planned from the cues has the truth's sides, motions and trends."""
    from spa2v.evaluation.spatial import motion_of_layout, side_of_layout, trend_of_layout

    if len(planned.objects) != len(truth.objects):
        return False
    for a, b in zip(planned.objects, truth.objects, strict=True):
        for judge in (side_of_layout, motion_of_layout, trend_of_layout):
            if judge(planned, a.id) != judge(truth, b.id):
                return False
    return True


def write_bank(examples: Sequence[Example], path: str | Path) -> Path:
    """Write examples as JSONL, atomically."""
    from spa2v.media.files import atomic_write_text

    return atomic_write_text(path, "".join(e.to_json() + "\n" for e in examples))

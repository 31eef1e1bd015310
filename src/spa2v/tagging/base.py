"""What is sounding, per tracked source: the tagger protocol and the per-source pipeline.

A tagger turns short mono clips into scores over its labels (AudioSet classes for ``ast``, a
vocabulary for ``clap``). :func:`tag_sources` gives every tracked source its own signal
(:mod:`~spa2v.tagging.separate`), cuts it into windows where that signal sounds, scores all
windows in batches, smooths the scores over the source's active time (a mean weighted by the
source's energy in each window) and maps the labels to drawable names
(:mod:`~spa2v.tagging.mapping`); a source whose best visible label scores under
``min_confidence`` stays unnamed ("sound source").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from spa2v.audio.cues import CueSheet
from spa2v.errors import Spa2vError
from spa2v.registry import TAGGERS
from spa2v.tagging.mapping import drawable


class TaggingError(Spa2vError, RuntimeError):
    """A tagger cannot run (missing extra or model)."""


@dataclass(frozen=True)
class SourceTag:
    """The recognised identity of one tracked source.

    Attributes
    ----------
    source : int
        Source number (0 = leftmost).
    name : str or None
        Drawable object name (``"car"``), None when nothing visible was recognised.
    label : str or None
        The tagger's label behind it (``"Vehicle horn, car horn, honking"``).
    confidence : float
        Smoothed score of that label, 0 … 1.
    tagger : str
        Which tagger.
    windows : int
        Windows scored.
    """

    source: int
    name: str | None
    label: str | None
    confidence: float
    tagger: str
    windows: int


class Tagger(Protocol):
    """Scores mono clips over a set of labels."""

    name: str
    #: Sample rate the model expects.
    sample_rate: int
    #: Length of the windows it scores, s.
    window_s: float

    def preflight(self) -> None:
        """Check, before any work, that the tagger can run here (extra, weights)."""
        ...

    def scores(self, clips: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        """``(labels, scores)`` with scores of shape ``(clips, labels)`` in [0, 1]."""
        ...


def _windows(signal: np.ndarray, sr: int, window_s: float) -> list[tuple[int, int, float]]:
    """(start, end, weight) samples of the windows where a source's own signal sounds.

    The clip is cut into windows of ``window_s`` (the last one ends at the clip's end); a
    window counts when its energy is within 10 dB of the source's loudest window, and weighs
    as much as its energy — so the smoothing follows the source's active time.
    """
    n = signal.size
    size = max(1, int(window_s * sr))
    starts = list(range(0, max(n - size, 0) + 1, size))
    if starts[-1] + size < n:
        starts.append(n - size)
    energy = np.array([float(np.mean(signal[a : a + size] ** 2)) for a in starts])
    top = float(energy.max()) if energy.size else 0.0
    if top <= 0:
        return []
    return [(a, min(a + size, n), e / top) for a, e in zip(starts, energy, strict=True)
            if e >= 0.1 * top]  # fmt: skip


def tag_sources(
    samples: np.ndarray,
    sr: int,
    cues: CueSheet,
    tagger: Tagger,
    *,
    min_confidence: float = 0.1,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[SourceTag]:
    """Tag every tracked source of a recording (see the module docstring).

    Parameters
    ----------
    samples : np.ndarray [shape=(channels, n)]
        The recording.
    sr : int
        Its sample rate.
    cues : CueSheet
        Its cues (tracked sources, activity).
    tagger : Tagger
        The model.
    min_confidence : float
        Below this smoothed score a source is left unnamed.
    batch_size : int
        Windows per model call.

    Returns
    -------
    list of SourceTag
        One per tracked source, left to right.
    """
    import soxr

    from spa2v.tagging.separate import source_signals

    rate = tagger.sample_rate
    if sr != rate:  # separate at the model's rate: less work, one resampling
        samples = soxr.resample(np.ascontiguousarray(samples.T), sr, rate).T
    signals = source_signals(samples, rate, cues, frame=max(256, 1024 * rate // 48_000 // 2 * 2))
    clips: list[np.ndarray] = []
    owner: list[tuple[int, float]] = []
    for k, y in enumerate(signals):
        for a, b, w in _windows(y, rate, tagger.window_s):
            clip = np.asarray(y[a:b], dtype=np.float32)
            if clip.size < rate // 10:
                continue
            peak = float(np.max(np.abs(clip)))
            clips.append(clip / peak * 0.5 if peak > 0 else clip)
            owner.append((k, w))
    labels: list[str] = []
    rows = []
    for i in range(0, len(clips), batch_size):
        labels, sc = tagger.scores(clips[i : i + batch_size])
        rows.append(np.asarray(sc, dtype=np.float64))
        if progress is not None:
            progress(min(i + batch_size, len(clips)), len(clips))
    scores = np.concatenate(rows) if rows else np.zeros((0, 0))
    names = [drawable(lbl) for lbl in labels]
    tags = []
    for k in range(len(signals)):
        sel = [i for i, (o, _) in enumerate(owner) if o == k]
        if not sel:
            tags.append(SourceTag(k, None, None, 0.0, tagger.name, 0))
            continue
        w = np.array([owner[i][1] for i in sel])
        smooth = (scores[sel] * w[:, None]).sum(axis=0) / w.sum()
        best_name, best_label, best = None, None, 0.0
        for j, name in enumerate(names):
            if name is not None and smooth[j] > best:
                best_name, best_label, best = name, labels[j], float(smooth[j])
        if best < min_confidence:
            best_name = None
        tags.append(SourceTag(k, best_name, best_label, round(best, 4), tagger.name, len(sel)))
    return tags


#: Default models (hub ids, loaded from this machine's Hugging Face cache or a local folder).
DEFAULT_MODELS = {
    "ast": "MIT/ast-finetuned-audioset-10-10-0.4593",
    "clap": "laion/clap-htsat-unfused",
}


def get_tagger(
    name: str, model: str | None = None, vocabulary: str | Path | None = None, *,
    quantize: bool = True,
) -> Tagger | None:  # fmt: skip
    """The tagger called ``name`` (None for ``none``); its model loads when first used.

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    TAGGERS.factory(name)  # unknown names fail here
    if name == "none":
        return None
    from spa2v.tagging.models import ASTTagger, ClapTagger

    if name == "ast":
        return ASTTagger(model, quantize=quantize)
    return ClapTagger(model, vocabulary=vocabulary)

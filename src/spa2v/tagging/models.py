"""Model-backed taggers (optional extra ``spa2v[tagging]``: torch + transformers).

* :class:`ASTTagger` — an Audio Spectrogram Transformer fine-tuned on AudioSet
  (``AutoFeatureExtractor`` + ``ASTForAudioClassification``); sigmoid scores per class.
* :class:`ClapTagger` — zero-shot CLAP (``ClapModel`` + ``ClapProcessor``) over a vocabulary of
  visual sound sources (``vocabulary.txt``, or ``--vocabulary FILE``), prompted as "the sound of
  a …"; softmax over the vocabulary.

Models load from a local folder or a hub id already in this machine's Hugging Face cache.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spa2v.extras import require
from spa2v.registry import settings_of
from spa2v.tagging.base import DEFAULT_MODELS, TaggingError

if TYPE_CHECKING:
    from spa2v.config import RunConfig


def _imports() -> Any:
    return require("tagging", "audio tagging")


def _load(loader: Any, ref: str, what: str) -> Any:
    from spa2v.weights import resolve_weights

    folder = resolve_weights(ref, what)  # nothing is downloaded: a missing model fails now
    try:
        return loader(folder)
    except (OSError, ValueError) as exc:
        raise TaggingError(f"cannot load the {what} {ref!r}: {type(exc).__name__}") from None


def quantized(model: Any) -> Any:
    """The model with its linear layers in dynamic int8 (CPU inference, about 1.5x faster).

    The weights are quantised once; activations are quantised on the fly per call. On the
    default-size AST the class probabilities moved by under 0.01 in our check.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice for this API
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class _ModelTagger:
    """A tagger whose model loads on first use; :meth:`preflight` checks it can, first."""

    name = ""
    window_s = 10.0

    def __init__(self, model: str | None = None) -> None:
        self.model_ref = model or DEFAULT_MODELS[self.name]
        self._ready = False

    def preflight(self) -> None:
        """Check, without loading anything, that the extra is installed and the model's
        weights are on this machine."""
        from spa2v.weights import resolve_weights

        _imports()
        resolve_weights(self.model_ref, "tagger model")

    def _load(self) -> None:
        raise NotImplementedError

    def _loaded(self) -> None:
        if not self._ready:
            self._load()
            self._ready = True

    @property
    def sample_rate(self) -> int:
        """Sample rate the model expects (loads the model)."""
        self._loaded()
        return self._sample_rate


class ASTTagger(_ModelTagger):
    """AudioSet tagging with an Audio Spectrogram Transformer.

    Parameters
    ----------
    model : str or None
        Local folder or hub id (default ``MIT/ast-finetuned-audioset-10-10-0.4593``).
    quantize : bool
        Dynamic int8 linear layers (:func:`quantized`) — the default, as tagging runs on the
        CPU.
    """

    name = "ast"

    def __init__(self, model: str | None = None, *, quantize: bool = True) -> None:
        super().__init__(model)
        self.quantize = quantize

    @classmethod
    def from_config(cls, config: RunConfig | None = None) -> ASTTagger:
        """The tagger of a run's configuration (its ``tagging`` section)."""
        return cls(settings_of(config, "tagging").tagger_model)

    def _load(self) -> None:
        torch, tf = _imports()
        self._torch = torch
        self.extractor = _load(tf.AutoFeatureExtractor.from_pretrained, self.model_ref,
                               "tagger model")  # fmt: skip
        self.model = _load(tf.ASTForAudioClassification.from_pretrained, self.model_ref,
                           "tagger model")  # fmt: skip
        self.model.eval()
        if self.quantize:
            self.model = quantized(self.model)
        self._sample_rate = int(getattr(self.extractor, "sampling_rate", 16_000))
        cfg = self.model.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]

    def scores(self, clips: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        self._loaded()
        inputs = self.extractor(
            [np.asarray(c, dtype=np.float32) for c in clips],
            sampling_rate=self.sample_rate,
            return_tensors="pt",
        )
        with self._torch.inference_mode():
            logits = self.model(**inputs).logits
        return self.labels, self._torch.sigmoid(logits).numpy()


def read_vocabulary(path: str | Path | None = None) -> list[str]:
    """The vocabulary (one name per line; ``#`` comments and blank lines ignored)."""
    if path is None:
        text = (resources.files("spa2v.tagging") / "vocabulary.txt").read_text("utf-8")
    else:
        p = Path(path)
        if not p.is_file():
            raise TaggingError(f"{p}: vocabulary file not found")
        text = p.read_text(encoding="utf-8")
    words = [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]
    if not words:
        raise TaggingError("the vocabulary is empty")
    return list(dict.fromkeys(words))


class ClapTagger(_ModelTagger):
    """Zero-shot tagging with CLAP over a vocabulary of things that can be drawn.

    Parameters
    ----------
    model : str or None
        Local folder or hub id (default ``laion/clap-htsat-unfused``).
    vocabulary : str or Path or None
        One drawable name per line (default: the shipped ``vocabulary.txt``).
    """

    name = "clap"

    def __init__(self, model: str | None = None, *, vocabulary: str | Path | None = None) -> None:
        super().__init__(model)
        self.vocabulary = vocabulary

    @classmethod
    def from_config(cls, config: RunConfig | None = None) -> ClapTagger:
        """The tagger of a run's configuration (its ``tagging`` section)."""
        t = settings_of(config, "tagging")
        return cls(t.tagger_model, vocabulary=t.vocabulary)

    def preflight(self) -> None:
        """As for every tagger, and the vocabulary file is read."""
        super().preflight()
        read_vocabulary(self.vocabulary)

    def _load(self) -> None:
        torch, tf = _imports()
        self._torch = torch
        self.processor = _load(tf.ClapProcessor.from_pretrained, self.model_ref, "tagger model")
        self.model = _load(tf.ClapModel.from_pretrained, self.model_ref, "tagger model")
        self.model.eval()
        self._sample_rate = int(getattr(self.processor.feature_extractor, "sampling_rate",
                                        48_000))  # fmt: skip
        self.labels = read_vocabulary(self.vocabulary)
        prompts = [f"the sound of a {w}" for w in self.labels]
        text = self.processor.tokenizer(prompts, padding=True, return_tensors="pt")
        with torch.no_grad():
            emb = self.model.get_text_features(**text)
        emb = emb if isinstance(emb, torch.Tensor) else emb.pooler_output
        self._text = torch.nn.functional.normalize(emb, dim=-1)

    def scores(self, clips: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        self._loaded()
        torch = self._torch
        inputs = self.processor.feature_extractor(
            [np.asarray(c, dtype=np.float32) for c in clips],
            sampling_rate=self.sample_rate,
            return_tensors="pt",
        )
        with torch.no_grad():
            emb = self.model.get_audio_features(**inputs)
            emb = emb if isinstance(emb, torch.Tensor) else emb.pooler_output
            audio = torch.nn.functional.normalize(emb, dim=-1)
            scale = float(getattr(self.model, "logit_scale_a", torch.tensor(4.6)).exp())
            probs = torch.softmax(scale * audio @ self._text.T, dim=-1)
        return self.labels, probs.numpy()

"""The LLM planners (``--planner gemini`` / ``--planner openai``).

One call, step by step:

1. the cue-based plan is made first (it is the fallback and the reference of the cue lock);
2. the conversation: the system instruction (``prompt.md``), ``k`` in-context examples
   retrieved by their cue features, and the request (cue text at the keyframe times, frame
   size, names; optionally the audio, mixed to mono);
3. the answer comes from the disk cache, or from the backend (retries with backoff on
   429/5xx/timeouts, honouring ``Retry-After``), asked for JSON following the answer schema;
4. the JSON is extracted and safely repaired (:mod:`~spa2v.planning.llm.answer`); if it is
   still not a layout, the model is asked once more with the error; if that fails too, or the
   model cannot be reached, the cue-based plan is used, with a warning;
5. names given by the user replace the model's, and the cue lock corrects positions that
   contradict strong cues (:mod:`~spa2v.planning.llm.cuelock`).

The layout records what happened in its ``planning`` field (path taken, cache hit, examples
used, repairs, corrections, prompt size), which ``spa2v run`` copies into ``run.json``.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from spa2v.config import LLMSettings
from spa2v.errors import ParameterError
from spa2v.extras import ExtraMissingError
from spa2v.layout.vsl import VSL
from spa2v.planning.base import PlanOptions
from spa2v.planning.heuristic import CuePlanner
from spa2v.planning.llm.answer import AnswerError, extract_json, to_layout
from spa2v.planning.llm.backends import (
    BACKENDS,
    DEFAULT_MODELS,
    Backend,
    ChatRequest,
    LLMError,
    Message,
    MissingKeyError,
    RetryPolicy,
)
from spa2v.planning.llm.cache import ResponseCache, cache_key
from spa2v.planning.llm.cuelock import apply_cue_lock
from spa2v.planning.llm.cuetext import cue_features, cue_text
from spa2v.planning.llm.examples import ExampleBank
from spa2v.planning.llm.prompt import (
    PromptTemplate,
    answer_json,
    output_schema,
    retry_text,
    system_text,
    user_text,
)
from spa2v.registry import settings_of

if TYPE_CHECKING:
    from spa2v.audio.cues import CueSheet
    from spa2v.audio.load import Audio
    from spa2v.config import RunConfig

#: Longest audio attached to a request (inline data limits), seconds.
MAX_AUDIO_S = 540.0
#: Sample rate of the attached audio (mono 16-bit WAV).
AUDIO_ATTACH_SR = 16_000


def estimate_tokens(text: str) -> int:
    """Rough token count: about four characters per token (English text and JSON)."""
    return math.ceil(len(text) / 4)


def _public_url(url: str | None) -> str | None:
    """A URL without user info, query or fragment (they may hold credentials)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _audio_hash(audio: Audio | None, cues: CueSheet) -> str:
    h = hashlib.sha256()
    if audio is not None:
        h.update(str(audio.sr).encode())
        h.update(np.ascontiguousarray(audio.samples, dtype=np.float32).tobytes())
    else:
        h.update(cues.to_json().encode())
    return h.hexdigest()


def _wav_bytes(audio: Audio) -> bytes:
    """The recording as a mono 16 kHz 16-bit WAV (the model hears it in mono anyway)."""
    import wave

    import soxr

    mono = np.mean(audio.samples, axis=0)
    if audio.sr != AUDIO_ATTACH_SR:
        mono = soxr.resample(mono, audio.sr, AUDIO_ATTACH_SR)
    pcm = np.clip(np.round(mono * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(AUDIO_ATTACH_SR)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class LLMPlanner:
    """A planner that asks a language model, checked against the measured cues.

    Parameters
    ----------
    backend_name : {"gemini", "openai"}
        Which API.
    settings : LLMSettings
        Options.
    backend : Backend or None
        A ready backend (tests); built from the settings otherwise, on first use.
    """

    #: Longest recording whose audio is attached (longer ones are planned from the cues only).
    max_audio_s = MAX_AUDIO_S

    def __init__(
        self,
        backend_name: str,
        settings: LLMSettings | None = None,
        backend: Backend | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if backend_name not in BACKENDS:
            raise ParameterError(f"unknown LLM backend {backend_name!r}")
        self.name = backend_name
        self.settings = settings or LLMSettings()
        self._backend = backend
        self._retry = retry
        self.template = PromptTemplate.load(self.settings.prompt)
        self.bank = ExampleBank.load(self.settings.examples, builtin=self.settings.builtin_examples)

    @property
    def needs_audio(self) -> bool:
        """Whether the recording is attached (``send_audio``; default: Gemini yes, OpenAI no)."""
        s = self.settings.send_audio
        return s if s is not None else self.name == "gemini"

    @property
    def model(self) -> str:
        return self.settings.llm_model or DEFAULT_MODELS[self.name]

    def preflight(self) -> None:
        """Build the backend now: a missing SDK or API key is reported before any work."""
        self.backend()

    def backend(self) -> Backend:
        """The backend (built on first use; a missing SDK or key raises here)."""
        if self._backend is None:
            s = self.settings
            kwargs: dict[str, Any] = {"base_url": s.base_url, "timeout_s": s.timeout_s}
            if self.name == "openai":
                kwargs["json_mode"] = s.json_mode
            self._backend = BACKENDS[self.name](self.model, **kwargs)
        return self._backend

    # ------------------------------------------------------------------ prompt
    def conversation(
        self, cues: CueSheet, options: PlanOptions, *, with_audio: bool, horizon: float = 0.42
    ) -> tuple[str, list[Message], list[str]]:
        """System text, messages (examples, then the request) and the ids of the examples."""
        system = system_text(self.template, fov_deg=options.fov_deg, horizon=horizon)
        examples = self.bank.nearest(cue_features(cues), self.settings.n_examples)
        messages: list[Message] = []
        for ex in examples:
            names = tuple(o["name"] for o in ex.answer.get("objects", []))
            text = user_text(
                self.template, cues=ex.cues, times=ex.times, duration=ex.duration,
                width=ex.width, height=ex.height, labels=names,
            )  # fmt: skip
            messages.append(Message("user", text))
            messages.append(Message("assistant", answer_json(ex.answer)))
        times = options.keyframe_times(cues.duration_s)
        request = user_text(
            self.template,
            cues=cue_text(cues, times),
            times=times,
            duration=round(cues.duration_s, 3),
            width=options.width,
            height=options.height,
            labels=options.labels,
            with_audio=with_audio,
            tags=options.tags,
        )
        messages.append(Message("user", request))
        return system, messages, [e.id for e in examples]

    # ------------------------------------------------------------------ plan
    def plan(self, cues: CueSheet, audio: Audio | None, options: PlanOptions) -> VSL:
        """Plan the layout (always a valid VSL; see the module docstring for the steps)."""
        s = self.settings
        cue_plan = CuePlanner().plan(cues, None, options)
        camera = (cue_plan.model_extra or {}).get("camera") or {}
        send = self.needs_audio
        if send and cues.duration_s > MAX_AUDIO_S:
            warnings.warn(
                f"the recording is longer than {MAX_AUDIO_S:.0f} s; it is not attached to the "
                "request (the cues still are)",
                UserWarning,
                stacklevel=2,
            )
            send = False
        send = send and audio is not None
        system, messages, example_ids = self.conversation(
            cues, options, with_audio=send, horizon=float(camera.get("horizon", 0.42))
        )
        prompt_chars = len(system) + sum(len(m.text) for m in messages)
        record: dict[str, Any] = {
            "backend": self.name,
            "model": self.model,
            "base_url": _public_url(s.base_url),
            "temperature": s.temperature,
            "seed": s.llm_seed,
            "trust": s.trust,
            "examples": example_ids,
            "audio_sent": send,
            "prompt_chars": prompt_chars,
            "prompt_tokens_estimate": estimate_tokens(system + "".join(m.text for m in messages)),
            "repairs": [],
            "corrections": [],
        }
        wav = _wav_bytes(audio) if send and audio is not None else None
        cache = ResponseCache(s.cache_dir) if s.cache else None
        base_key = {
            "audio": _audio_hash(audio, cues),
            "audio_sent": send,
            "backend": self.name,
            "model": self.model,
            "temperature": s.temperature,
            "seed": s.llm_seed,
            "json_mode": s.json_mode if self.name == "openai" else None,
            "system": system,
        }
        cache_hits = []

        def ask(msgs: list[Message]) -> str:
            key = cache_key({**base_key, "messages": [(m.role, m.text) for m in msgs]})
            if cache is not None:
                hit = cache.get(key)
                if hit is not None:
                    cache_hits.append(True)
                    return hit
            cache_hits.append(False)
            request = ChatRequest(
                system=system,
                messages=msgs,
                schema=output_schema() if s.json_mode != "none" else None,
                temperature=s.temperature,
                seed=s.llm_seed,
                audio_wav=wav,
            )
            backend = self.backend()
            policy = self._retry or RetryPolicy(attempts=s.attempts)
            secret = getattr(backend, "_secret", None)
            text = policy.call(lambda: backend.complete(request), secret)
            if cache is not None:
                cache.put(key, text, {"backend": self.name, "model": self.model})
            return text

        def parse(text: str):
            return to_layout(
                extract_json(text),
                duration=cues.duration_s,
                width=options.width,
                height=options.height,
                camera=camera,
            )

        path = "model"
        try:
            answer = ask(messages)
            try:
                repaired = parse(answer)
            except AnswerError as first:
                record["first_error"] = str(first)
                retry = [*messages, Message("assistant", answer[:20_000]),
                         Message("user", retry_text(self.template, str(first)))]  # fmt: skip
                repaired = parse(ask(retry))
                path = "retried"
        except (ExtraMissingError, MissingKeyError):
            raise
        except (AnswerError, LLMError) as exc:
            warnings.warn(
                f"the {self.name} planner's answer was unusable ({exc}); "
                "using the cue-based plan instead",
                UserWarning,
                stacklevel=2,
            )
            record["path"] = "fallback"
            record["error"] = str(exc)
            record["cache"] = "hit" if cache_hits and all(cache_hits) else "miss"
            return _with_record(cue_plan, record, planner=self.name)
        if repaired.repairs and path == "model":
            path = "repaired"
        record["repairs"] = repaired.repairs
        layout = repaired.layout
        if options.labels:
            layout = _apply_labels(layout, options.labels, repaired.sources)
        elif any(t.name for t in options.tags):
            names = tuple(options.name_of(k) for k in range(max(len(options.tags), 1)))
            layout = _apply_labels(layout, names, repaired.sources, keep="sound source")
        layout, notes = apply_cue_lock(
            layout,
            cue_plan,
            trust=s.trust,
            sources=repaired.sources,  # type: ignore[arg-type]
        )
        record["corrections"] = notes
        record["path"] = path
        record["cache"] = "off" if cache is None else ("hit" if all(cache_hits) else "miss")
        return _with_record(layout, record, planner=self.name)


def _apply_labels(
    layout: VSL, labels: tuple[str, ...], sources: dict[int, int], *, keep: str | None = None
) -> VSL:
    """Names given by the user win: object of source ``k`` (or ``k``-th object) gets label k.

    With ``keep``, a label equal to it (an unrecognised source) leaves the model's name.
    """
    data = layout.model_dump(by_alias=True)
    for k, obj in enumerate(data["objects"]):
        idx = sources.get(obj["id"], k)
        if 0 <= idx < len(labels) and labels[idx] != keep:
            obj["name"] = labels[idx]
    return VSL.model_validate(data)


def _with_record(layout: VSL, record: dict[str, Any], *, planner: str) -> VSL:
    data = layout.model_dump(by_alias=True)
    data["planner"] = planner
    data["planning"] = record
    return VSL.model_validate(data)


def gemini(config: RunConfig | None = None) -> LLMPlanner:
    """The Gemini planner for a run's configuration (its ``llm`` section)."""
    return LLMPlanner("gemini", settings_of(config, "llm"))


def openai(config: RunConfig | None = None) -> LLMPlanner:
    """The planner for OpenAI-compatible servers (its ``llm`` section)."""
    return LLMPlanner("openai", settings_of(config, "llm"))

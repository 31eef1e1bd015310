"""Chat backends: Gemini (``google-genai``) and OpenAI-compatible servers (``openai``).

Both SDKs are optional (``pip install 'spa2v[llm]'``) and imported only when a backend is
built. API keys come only from the environment and are handed to the SDK client; they are never
logged, cached or written anywhere (error messages are scrubbed of them too).

Retries are done here, not by the SDKs (whose own retries are switched off), so that both
backends behave alike: a rate limit (429), a server error (5xx), a timeout or a dropped
connection is retried with exponential backoff, honouring the server's ``Retry-After``; any
other error (bad key, bad request) fails at once.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from spa2v.errors import Spa2vError
from spa2v.extras import require


class LLMError(Spa2vError, RuntimeError):
    """A language model could not be reached or refused the request."""


class MissingKeyError(LLMError):
    """No API key in the environment."""


@dataclass(frozen=True)
class Message:
    """One turn of the conversation."""

    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class ChatRequest:
    """Everything a backend needs for one call."""

    system: str
    messages: list[Message]
    schema: dict[str, Any] | None = None
    temperature: float = 0.5
    seed: int | None = None
    audio_wav: bytes | None = field(default=None, repr=False)


class Backend(Protocol):
    """A chat model behind an API."""

    name: str
    model: str

    def complete(self, request: ChatRequest) -> str:
        """The model's answer text (one attempt; raise on failure)."""
        ...


# --------------------------------------------------------------------------- error handling
class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return text


def _classify(exc: Exception, secret: str | None) -> Exception:
    """Map an SDK exception to a transient one (retry) or an :class:`LLMError` (give up)."""
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    name = type(exc).__name__
    message = _scrub(f"{name}: {exc}", secret)
    if isinstance(status, int):
        if status == 429 or status >= 500:
            return _Transient(f"HTTP {status}", _retry_after(headers))
        if status in (401, 403):
            return LLMError(f"the server refused the API key (HTTP {status})")
        hint = (
            " (if the server does not support structured output, try --json-mode object or none)"
            if status == 400
            else ""
        )
        return LLMError(f"the server rejected the request (HTTP {status}): {message}{hint}")
    if "Timeout" in name or "timeout" in str(exc).lower():
        return _Transient("timed out")
    if "Connect" in name or "Connection" in name or isinstance(exc, ConnectionError):
        return _Transient(f"connection failed ({name})")
    return LLMError(f"the request failed: {message}")


@dataclass
class RetryPolicy:
    """How often and how patiently to retry transient failures.

    Attributes
    ----------
    attempts : int
        Calls in all (the first one included).
    base_delay_s, max_delay_s : float
        Backoff: ``base * 2**k`` with ±25% jitter, at most ``max``; a server's ``Retry-After``
        wins (also capped at ``max``).
    sleep : callable
        Sleep function (tests replace it to record the delays).
    """

    attempts: int = 4
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    delays: list[float] = field(default_factory=list)

    def call(self, fn: Callable[[], str], secret: str | None) -> str:
        last = "no attempt made"
        for k in range(max(1, self.attempts)):
            try:
                return fn()
            except Exception as exc:
                mapped = _classify(exc, secret)
                if not isinstance(mapped, _Transient):
                    raise mapped from None
                last = str(mapped)
                if k + 1 >= self.attempts:
                    break
                delay = mapped.retry_after
                if delay is None:
                    delay = self.base_delay_s * 2**k * random.uniform(0.75, 1.25)
                delay = min(delay, self.max_delay_s)
                self.delays.append(delay)
                self.sleep(delay)
        raise LLMError(f"gave up after {self.attempts} attempts (last: {last})")


# --------------------------------------------------------------------------- backends
def _key(names: tuple[str, ...], backend: str) -> str:
    for n in names:
        value = os.environ.get(n, "").strip()
        if value:
            return value
    raise MissingKeyError(
        f"the {backend} planner needs an API key in the environment: set " + " or ".join(names)
    )


class GeminiBackend:
    """Google Gemini through ``google-genai``.

    Parameters
    ----------
    model : str
        Model name (default ``gemini-2.0-flash``, the paper's).
    base_url : str or None
        Another endpoint (a proxy, or a local test server).
    timeout_s : float
        Time limit of one call.
    """

    name = "gemini"
    KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def __init__(
        self, model: str = "gemini-2.0-flash", *, base_url: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:  # fmt: skip
        genai, types = require("llm", "the gemini planner", ("google.genai", "google.genai.types"))
        self.model = model
        self._secret = _key(self.KEY_VARS, "gemini")
        options = types.HttpOptions(timeout=int(timeout_s * 1000), base_url=base_url)
        self._types = types
        self._client = genai.Client(api_key=self._secret, http_options=options)

    def complete(self, request: ChatRequest) -> str:
        types = self._types
        contents = []
        for i, m in enumerate(request.messages):
            parts = [types.Part.from_text(text=m.text)]
            last = i == len(request.messages) - 1
            if last and m.role == "user" and request.audio_wav is not None:
                parts.append(types.Part.from_bytes(data=request.audio_wav, mime_type="audio/wav"))
            contents.append(
                types.Content(role="model" if m.role == "assistant" else "user", parts=parts)
            )
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            seed=request.seed,
            response_mime_type="application/json" if request.schema else None,
            response_json_schema=request.schema,
        )
        response = self._client.models.generate_content(
            model=self.model, contents=contents, config=config
        )
        text = response.text
        if not text:
            raise LLMError("the model returned an empty answer")
        return text


class OpenAIBackend:
    """OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio).

    Parameters
    ----------
    model : str
        Model name (default ``gpt-4o-mini``, one of the paper's comparisons).
    base_url : str or None
        Server URL, e.g. ``http://localhost:11434/v1`` for Ollama; default ``OPENAI_BASE_URL``
        or OpenAI's.
    timeout_s : float
        Time limit of one call.
    json_mode : {"schema", "object", "none"}
        How structured output is requested: a JSON Schema (``response_format`` of type
        ``json_schema``), any JSON object, or not at all (JSON is extracted from the text).
    """

    name = "openai"
    KEY_VARS = ("OPENAI_API_KEY",)

    def __init__(
        self, model: str = "gpt-4o-mini", *, base_url: str | None = None,
        timeout_s: float = 60.0, json_mode: str = "schema",
    ) -> None:  # fmt: skip
        (openai,) = require("llm", "the openai planner", ("openai",))
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        try:
            self._secret = _key(self.KEY_VARS, "openai")
        except MissingKeyError:
            if base_url is None:
                raise
            self._secret = "not-needed"  # local servers usually take any key
        self.model = model
        self.json_mode = json_mode
        self._client = openai.OpenAI(
            api_key=self._secret, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def complete(self, request: ChatRequest) -> str:
        messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}]
        for i, m in enumerate(request.messages):
            last = i == len(request.messages) - 1
            if last and m.role == "user" and request.audio_wav is not None:
                data = base64.b64encode(request.audio_wav).decode("ascii")
                content: Any = [
                    {"type": "text", "text": m.text},
                    {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
                ]
            else:
                content = m.text
            messages.append({"role": m.role, "content": content})
        kwargs: dict[str, Any] = {"temperature": request.temperature}
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.schema is not None and self.json_mode == "schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "video_scene_layout", "schema": request.schema},
            }
        elif request.schema is not None and self.json_mode == "object":
            kwargs["response_format"] = {"type": "json_object"}
        response = self._client.chat.completions.create(
            model=self.model, messages=messages, **kwargs
        )
        if not response.choices:
            raise LLMError("the model returned no answer")
        text = response.choices[0].message.content
        if not text:
            raise LLMError("the model returned an empty answer")
        return text


#: Backends by planner name.
BACKENDS: dict[str, type] = {"gemini": GeminiBackend, "openai": OpenAIBackend}
DEFAULT_MODELS = {"gemini": "gemini-2.0-flash", "openai": "gpt-4o-mini"}

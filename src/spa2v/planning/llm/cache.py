"""A disk cache of model answers, so that planning the same recording again costs nothing.

The key is a SHA-256 over the audio's hash, the whole conversation (system instruction, examples,
request), the backend, model and sampling settings — never the API key. Entries are small JSON
files written atomically under ``$SPA2V_CACHE_DIR`` (default ``$XDG_CACHE_HOME/spa2v/llm`` or
``~/.cache/spa2v/llm``); deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """Where answers are cached unless told otherwise."""
    if os.environ.get("SPA2V_CACHE_DIR"):
        return Path(os.environ["SPA2V_CACHE_DIR"]) / "llm"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spa2v" / "llm"


def cache_key(parts: dict[str, Any]) -> str:
    """Stable hash of the request's parts (JSON with sorted keys)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers by key, as files ``<dir>/<key[:2]>/<key>.json``.

    Parameters
    ----------
    folder : Path or None
        Cache folder (default :func:`default_cache_dir`).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached answer, or None (a damaged entry counts as missing)."""
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            answer = entry["answer"]
            return answer if isinstance(answer, str) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, answer: str, meta: dict[str, Any]) -> None:
        """Store an answer with non-secret metadata (backend, model, time)."""
        from spa2v.media.files import atomic_write_text, dumps_json

        entry = {"answer": answer, "meta": meta, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            atomic_write_text(self._path(key), dumps_json(entry, ensure_ascii=False))
        except OSError:
            pass  # a cache that cannot be written only costs a repeat call

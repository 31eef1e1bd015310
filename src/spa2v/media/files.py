"""Atomic file writing: a failed or interrupted write never leaves a broken file in place."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spa2v.errors import ParameterError

#: Prefix of the hidden folder in which :func:`staged_outputs` prepares a result.
STAGE_PREFIX = ".spa2v-stage."


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    The temporary name keeps the final suffix so writers that pick a format by extension
    (Matplotlib, PyAV) still do.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=suffix or final.suffix, dir=final.parent
        )
    except OSError as exc:  # name the file the user asked for, not the temporary one
        raise type(exc)(f"cannot write {final}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes 0600 files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # NumPy scalars
        return _finite(obj.item())
    return obj


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj``: NaN and ±infinity are written as ``null``.

    Every JSON file spa2v writes goes through this, so browsers, ``jq`` and other strict
    parsers read it. A ``null`` number means "not defined" (e.g. a rank correlation of a clip
    with a single object). Keyword arguments go to :func:`json.dumps`.
    """
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)


def _remove_leftovers(folder: Path, names: tuple[str, ...]) -> None:
    """Remove what a killed run left in ``folder``: staging folders, temporary files."""
    for p in folder.glob(STAGE_PREFIX + "*"):
        shutil.rmtree(p, ignore_errors=True)
    for name in names:
        for p in folder.glob(f".{name}.*"):
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_outputs(folder: str | Path, names: tuple[str, ...], *, force: bool) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``folder``; move the files ``names`` in at the end.

    The last of ``names`` marks a complete result: it is removed before the others are moved
    into place and moved in last, so ``folder`` never shows it beside files of another run.
    A name the staging folder lacks is removed from ``folder`` (a file of an earlier run).
    Leftovers of killed runs (staging folders, temporary files of these names) are removed
    first. On any exception ``folder`` is left as it was.

    Raises
    ------
    ParameterError
        When ``folder`` is not empty and ``force`` is false.
    """
    out = Path(folder)
    if out.is_dir():
        _remove_leftovers(out, names)
        if any(out.iterdir()) and not force:
            raise ParameterError(f"{out}: folder is not empty; use --force to write into it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
    except OSError as exc:
        raise type(exc)(f"cannot write into {out}: {exc.strerror}") from None
    try:
        yield stage
        *files, marker = names
        (out / marker).unlink(missing_ok=True)
        for name in files:
            if (stage / name).exists():
                os.replace(stage / name, out / name)
            else:
                (out / name).unlink(missing_ok=True)
        os.replace(stage / marker, out / marker)
    finally:
        shutil.rmtree(stage, ignore_errors=True)

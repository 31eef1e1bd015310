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


class FolderBusyError(ParameterError):
    """Another spa2v process is writing into the same folder."""


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (which must exist) while writing into it.

    The lock is an advisory ``flock`` on the folder itself, so it leaves no file behind and
    is released when the process ends, however it ends. Where ``fcntl`` is missing
    (Windows) nothing is locked.

    Raises
    ------
    FolderBusyError
        When another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(
                f"{folder}: another spa2v process is writing into this folder; wait for it to "
                "finish, or choose another folder"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(folder: str | Path, names: tuple[str, ...] = ()) -> None:
    """Remove what a killed run left in ``folder``: staging folders, temporary files of
    ``names``. Call it while holding :func:`folder_lock`."""
    folder = Path(folder)
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
    ``folder`` is locked (:func:`folder_lock`) throughout, and leftovers of killed runs
    (staging folders, temporary files of these names) are removed first. On any exception
    ``folder`` is left as it was (a folder this call created is removed again).

    Raises
    ------
    ParameterError
        When ``folder`` is not empty and ``force`` is false, or is not a folder.
    FolderBusyError
        When another process is writing into ``folder``.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: exists and is not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(f"cannot create the folder {out}: {exc.strerror}") from None
    try:
        with folder_lock(out):
            remove_leftovers(out, names)
            if any(out.iterdir()) and not force:
                raise ParameterError(f"{out}: folder is not empty; use --force to write into it")
            try:
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
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: nothing of value is removed
        raise


def check_writable(path: str | Path, *, what: str = "output") -> Path:
    """Raise :class:`ParameterError` unless a file can be written at ``path``.

    Checked before any work, so that a long job does not fail at its last step: ``path``
    must not be a folder, and its nearest existing parent must be a writable folder.
    """
    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"{p}: is a folder; give a file name for the {what}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ParameterError(f"{p}: {parent} is not a folder")
    try:  # a real try: permissions, read-only mounts and special file systems all show
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ParameterError(f"{p}: cannot write the {what} in {parent} ({exc.strerror})") from None
    return p

"""Batch runs: ``spa2v run`` over many recordings, resumable, locally or on Ray.

Input is a folder of recordings, or a CSV/JSONL manifest with one row per item (``path`` and
optional ``labels`` — a list in JSONL, ``;``-separated in CSV —, ``sources``, ``planner``,
``generator``, ``seed``, ``fps``, ``name``). Each item gets its own output folder, written as
``spa2v run`` writes it; ``results.jsonl`` gets one line per finished item (status, timings,
error), appended as items finish. An item is done when its folder holds ``run.json`` (written
last, atomically): a rerun skips it, so a crashed or interrupted batch resumes where it stopped,
and nothing half-written counts as done. One bad file never stops the batch; a rerun does not
try it again (its error is in ``results.jsonl``) unless ``retry_failed``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spa2v.errors import ParameterError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".mp4", ".mov", ".mkv",
                  ".webm", ".aif", ".aiff")  # fmt: skip
#: Per-item options a manifest row may set.
ITEM_OPTIONS = ("labels", "sources", "planner", "generator", "seed", "fps")


@dataclass
class Item:
    """One recording to process."""

    name: str
    audio: str
    options: dict[str, Any] = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "item"


def discover(source: str | Path) -> list[Item]:
    """The items of a folder or a CSV/JSONL manifest (names made unique).

    Raises
    ------
    ParameterError
        For a missing input, an unreadable manifest, or nothing to do.
    """
    src = Path(source)
    rows: list[dict[str, Any]] = []
    if src.is_dir():
        rows = [{"path": str(p)} for p in sorted(src.iterdir())
                if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]  # fmt: skip
        base = src
    elif src.is_file() and src.suffix.lower() in (".csv", ".jsonl"):
        base = src.parent
        text = src.read_text(encoding="utf-8")
        if src.suffix.lower() == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ParameterError(f"{src}:{n}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict) or "path" not in row:
                    raise ParameterError(f"{src}:{n}: each row needs a 'path'")
                rows.append(row)
        else:
            reader = csv.DictReader(text.splitlines())
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ParameterError(f"{src}: the CSV needs a 'path' column")
            for row in reader:
                clean = {k: v for k, v in row.items() if v not in (None, "")}
                if "labels" in clean:
                    clean["labels"] = [x.strip() for x in clean["labels"].split(";") if x.strip()]
                for key in ("sources", "seed"):
                    if key in clean:
                        clean[key] = int(clean[key])
                if "fps" in clean:
                    clean["fps"] = float(clean["fps"])
                rows.append(clean)
    elif src.exists():
        raise ParameterError(f"{src}: give a folder of recordings or a .csv/.jsonl manifest")
    else:
        raise ParameterError(f"{src}: no such file or folder")
    if not rows:
        raise ParameterError(f"{src}: no recordings found")
    items, seen = [], set()
    for row in rows:
        path = Path(row["path"])
        if not path.is_absolute():
            path = base / path
        name = _safe(str(row.get("name") or path.stem))
        unique, k = name, 2
        while unique in seen:
            unique, k = f"{name}_{k}", k + 1
        seen.add(unique)
        opts = {k: row[k] for k in ITEM_OPTIONS if k in row}
        items.append(Item(unique, str(path), opts))
    return items


def is_done(outdir: Path) -> bool:
    """Whether an item's folder is complete (``run.json`` is written last)."""
    return (outdir / "run.json").is_file()


def run_item(item: Item, outdir: str, options: dict[str, Any]) -> dict[str, Any]:
    """Process one item; never raises for a bad recording (the error is returned)."""
    import warnings

    from spa2v import api
    from spa2v.errors import Spa2vError

    target = Path(outdir) / item.name
    t0 = time.perf_counter()
    record: dict[str, Any] = {"name": item.name, "audio": item.audio, "outdir": str(target)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = api.run(item.audio, target, force=True, **{**options, **item.options})
        record.update(status="ok", timings_s={k: round(v, 3) for k, v in
                                              result.timings_s.items()})  # fmt: skip
    except Spa2vError as exc:
        record.update(status="error", error=str(exc))
    except Exception as exc:
        record.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _local(items: list[Item], outdir: str, options: dict[str, Any], workers: int):
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if workers <= 1:
        for item in items:
            yield run_item(item, outdir, options)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(run_item, it, outdir, options) for it in items}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def _ray(items: list[Item], outdir: str, options: dict[str, Any], workers: int,
         address: str | None):  # fmt: skip
    try:
        import ray
    except ImportError:
        raise ParameterError("the ray engine needs Ray: pip install 'spa2v[distributed]'") from None
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers
        ray.init(**kwargs)
        started = True
    try:
        gpu = options.get("generator") == "diffusion"
        task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0)(run_item)
        pending = [task.remote(it, outdir, options) for it in items]
        while pending:  # results stream back as they finish
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started:
            ray.shutdown()


def run_batch(
    source: str | Path,
    outdir: str | Path,
    *,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    options: dict[str, Any] | None = None,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every item of ``source`` into ``outdir`` (see the module docstring).

    Parameters
    ----------
    source : str or Path
        Folder of recordings, or a CSV/JSONL manifest.
    outdir : str or Path
        Output folder: one subfolder per item, ``results.jsonl``.
    workers : int
        Items processed at once.
    engine : {"local", "ray"}
        Processes on this machine, or Ray tasks (a local instance, or ``address``).
    address : str or None
        Address of an existing Ray cluster (``auto`` for the one this machine belongs to).
    options : dict
        Options of :func:`spa2v.run` for every item (rows of a manifest may override some).
    retry_failed : bool
        Try again the items whose last recorded attempt failed.

    Returns
    -------
    dict
        Counts (``ok``, ``error``, ``skipped``), wall time and the per-item records of this run.
    """
    if engine not in ("local", "ray"):
        raise ParameterError(f"--engine must be local or ray, got {engine!r}")
    if not 1 <= workers <= 1024:
        raise ParameterError("--workers must be within 1 … 1024")
    items = discover(source)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    failed = set()
    log_path = out / "results.jsonl"
    if log_path.exists() and not retry_failed:
        last: dict[str, str] = {}
        for line in log_path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                last[rec["name"]] = rec["status"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by a crash
        failed = {name for name, status in last.items() if status == "error"}
    todo = [it for it in items if not is_done(out / it.name) and it.name not in failed]
    skipped = len(items) - len(todo)
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if progress is not None:
        progress(skipped, len(items))
    runner = (_local(todo, str(out), options or {}, workers) if engine == "local"
              else _ray(todo, str(out), options or {}, workers, address))  # fmt: skip
    with open(out / "results.jsonl", "a", encoding="utf-8") as log:
        for record in runner:
            record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            log.write(json.dumps(record) + "\n")
            log.flush()
            os.fsync(log.fileno())
            records.append(record)
            if progress is not None:
                progress(skipped + len(records), len(items))
    return {
        "items": len(items),
        "ok": sum(r["status"] == "ok" for r in records),
        "error": sum(r["status"] == "error" for r in records),
        "skipped": skipped,
        "seconds": round(time.perf_counter() - t0, 3),
        "records": records,
        "engine": engine,
        "workers": workers,
    }

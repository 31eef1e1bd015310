"""Batch runs: ``spa2v run`` over many recordings, resumable, locally or on Ray.

Input is a folder of recordings, or a CSV/JSONL manifest with one row per item: ``path``
(relative to the manifest's own folder unless absolute) and, optionally, ``name`` and any
option of the run configuration (:class:`spa2v.config.RunConfig`), flat (``"fps": 12``) or
nested by section (``"render": {"generator": "diffusion"}, "diffusion": {"model": …}``); in
a CSV the columns are field names, and lists (``labels``, ``guidance_layers``, ``examples``)
are ``;``-separated. A row's options go on top of the batch's own configuration; every row is
checked, and a bad row becomes that item's recorded error, naming the field, and the batch
goes on.

Each item gets its own output folder, written as ``spa2v run`` writes it. An item is done when
its folder holds ``run.json`` (written last, after the other files are in place): a rerun
skips it, so a crashed or interrupted batch resumes where it stopped, and nothing half-written
counts as done. ``results.jsonl`` holds one line per item (status, timings, error): on start
it is reconciled with the folders (an item finished while the batch was being stopped gets its
line, a stale line is dropped), then a line is appended as each item finishes. One bad file
never stops the batch; a rerun does not try it again unless ``retry_failed``.

With several workers each item runs in a worker process. Ctrl-C (SIGINT to the batch or to its
whole process group) stops the workers at once and starts nothing new; a worker whose parent
dies (even by SIGKILL) ends itself within a fraction of a second.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from spa2v.audio.load import AUDIO_SUFFIXES
from spa2v.config import (
    LIST_FIELDS,
    RunConfig,
    by_section,
    loads_json,
    resolve_paths,
    validation_message,
)
from spa2v.errors import ParameterError
from spa2v.media.files import (
    FolderBusyError,
    atomic_write_text,
    dumps_json,
    folder_lock,
    remove_leftovers,
)

#: How often a worker checks that the batch that started it is still alive, s.
PARENT_POLL_S = 0.2
#: How long a Ray cluster address may take to answer before the batch gives up, s.
RAY_CONNECT_TIMEOUT_S = 5.0


@dataclass
class Item:
    """One recording to process (``error`` set when its manifest row is invalid)."""

    name: str
    audio: str
    config: RunConfig = field(default_factory=RunConfig)
    error: str | None = None


class _Row(BaseModel):
    """What a manifest row holds besides run options."""

    path: str = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "item"


def _manifest_rows(src: Path) -> list[tuple[str, Any]]:
    """``(where, row)`` for each row of a CSV or JSONL manifest; rows are not checked yet."""
    text = src.read_text(encoding="utf-8-sig")
    rows: list[tuple[str, Any]] = []
    if src.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((f"line {n}", loads_json(line)))
            except json.JSONDecodeError as exc:
                rows.append((f"line {n}", ValueError(f"not JSON ({exc.msg})")))
            except ValueError as exc:  # a key given twice
                rows.append((f"line {n}", exc))
        return rows
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "path" not in reader.fieldnames:
        raise ParameterError(f"{src}: the CSV needs a 'path' column")
    for n, row in enumerate(reader, 2):
        if None in row:
            rows.append((f"line {n}", ValueError("more cells than columns")))
            continue
        clean: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
        for key, value in clean.items():
            if key.rsplit(".", 1)[-1] in LIST_FIELDS:  # "labels" or "planning.labels"
                clean[key] = [x.strip() for x in value.split(";") if x.strip()]
        rows.append((f"line {n}", clean))
    return rows


def discover(source: str | Path, config: RunConfig | None = None) -> list[Item]:
    """The items of a folder or a CSV/JSONL manifest (names made unique).

    Paths in a manifest are relative to the manifest's folder; every row's options are put
    on top of ``config`` (the batch's own) and validated, and an invalid row becomes an
    :class:`Item` whose ``error`` says which field is wrong.

    Raises
    ------
    ParameterError
        For a missing input, an unreadable manifest, or nothing to do.
    """
    src = Path(source)
    entries: list[tuple[str, Any]] = []
    if src.is_dir():
        entries = [(p.name, {"path": p.name}) for p in sorted(src.iterdir())
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]  # fmt: skip
    elif src.is_file() and src.suffix.lower() in (".csv", ".jsonl"):
        try:
            entries = _manifest_rows(src)
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError(f"{src}: cannot read the manifest ({exc})") from None
    elif src.exists():
        raise ParameterError(f"{src}: give a folder of recordings or a .csv/.jsonl manifest")
    else:
        raise ParameterError(f"{src}: no such file or folder")
    if not entries:
        where = " (subfolders are not searched)" if src.is_dir() else ""
        raise ParameterError(f"{src}: no recordings found{where}")
    base = src if src.is_dir() else src.parent
    items = []
    for where, raw in entries:
        error = None
        try:
            if isinstance(raw, Exception):
                raise ParameterError(str(raw))
            if not isinstance(raw, dict):
                raise ParameterError("a row must be an object with a 'path'")
            row = _Row.model_validate({k: raw.get(k) for k in ("path", "name") if k in raw})
            path = Path(row.path)
            # absolute: workers (on other Ray nodes too) need not share the working folder
            audio = str((base / path).absolute())
            stem = row.name or path.stem
            # paths in a row's options are relative to the manifest's folder, as its path is
            options = by_section({k: v for k, v in raw.items() if k not in ("path", "name")})
            item_config = RunConfig.build(config, resolve_paths(options, base))
        except (ValidationError, ParameterError) as exc:
            msg = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            error = f"{src.name} {where}: {msg}"
            given = raw.get("path") if isinstance(raw, dict) else None
            named = raw.get("name") if isinstance(raw, dict) else None
            from_path = Path(given).stem if isinstance(given, str) else None
            stem = next((x for x in (named, from_path) if isinstance(x, str) and x), where)
            audio = str((base / given).absolute()) if from_path else f"(no path: {given!r})"
            item_config = config or RunConfig()
        items.append(Item(_safe(stem), audio, item_config, error))
    return _unique_names(items)


def _unique_names(items: list[Item]) -> list[Item]:
    """Give items that share a name a suffix from their recording's path.

    The suffix depends on the item alone, so adding a recording to a folder never shifts
    the names (the output folders) of the others.
    """
    import hashlib

    count: dict[str, int] = {}
    for it in items:
        count[it.name] = count.get(it.name, 0) + 1
    seen: set[str] = set()
    for it in items:
        if count[it.name] > 1:
            digest = hashlib.sha1(f"{it.audio}\0{it.error}".encode("utf-8", "replace"))
            it.name = f"{it.name}_{digest.hexdigest()[:8]}"
        while it.name in seen:  # the same recording twice in a manifest
            it.name += "_"
        seen.add(it.name)
    return items


def is_done(outdir: Path, audio: str | None = None) -> bool:
    """Whether an item's folder is complete (``run.json`` is written last) and, when
    ``audio`` is given, made from that recording."""
    run = outdir / "run.json"
    if not run.is_file():
        return False
    if audio is None:
        return True
    try:
        made_from = json.loads(run.read_text(encoding="utf-8")).get("input")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(made_from, str) and Path(made_from).absolute() == Path(audio).absolute()


def run_item(item: Item, outdir: str) -> dict[str, Any]:
    """Process one item; never raises for a bad recording (the error is returned)."""
    import warnings

    from spa2v import api
    from spa2v.errors import Spa2vError

    target = Path(outdir) / item.name
    t0 = time.perf_counter()
    record: dict[str, Any] = {"name": item.name, "audio": item.audio, "outdir": str(target)}
    if item.error is not None:
        record.update(status="error", error=item.error, seconds=0.0)
        return record
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = api.run(item.audio, target, item.config, force=True)
        record.update(status="ok", timings_s={k: round(v, 3) for k, v in
                                              result.timings_s.items()})  # fmt: skip
    except Spa2vError as exc:
        record.update(status="error", error=str(exc))
    except Exception as exc:
        record.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def _exit_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is gone (a worker must not outlive its batch)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="spa2v-parent-watch", daemon=True).start()


def _worker(conn: Any, parent: int, outdir: str) -> None:
    """A worker process: run the items the parent sends until it sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone answers Ctrl-C
    _exit_with_parent(parent)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        conn.send(run_item(item, outdir))


class _Worker:
    def __init__(self, ctx: Any, outdir: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, os.getpid(), outdir),
                                daemon=True, name="spa2v-batch-worker")  # fmt: skip
        # born ignoring SIGINT, so a Ctrl-C to the group while it starts cannot kill it
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self.proc.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
        child.close()
        self.item: Item | None = None

    def give(self, item: Item) -> None:
        self.item = item
        self.conn.send(item)

    def stop(self, now: bool) -> None:
        if not now and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1)
        self.conn.close()


def _lost(item: Item, code: int | None) -> dict[str, Any]:
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return {"name": item.name, "audio": item.audio, "status": "error", "seconds": 0.0,
            "error": f"the worker process running it ended unexpectedly ({how})"}  # fmt: skip


def _local(items: list[Item], outdir: str, workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield run_item(item, outdir)
        return
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # no fork of a parent that runs threads (progress display)
    queue = deque(items)
    pool: list[_Worker] = []
    clean = False
    try:
        for _ in range(min(workers, len(queue))):
            w = _Worker(ctx, outdir)
            pool.append(w)
            w.give(queue.popleft())
        while any(w.item is not None for w in pool):
            busy = [w for w in pool if w.item is not None]
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for w in busy:
                record = None
                if w.conn.poll():
                    try:
                        record = w.conn.recv()
                    except (EOFError, OSError):
                        record = None
                if record is None and w.proc.is_alive():
                    continue
                item, w.item = w.item, None
                if record is None:  # the worker died with the item
                    w.proc.join(1)
                    if w.proc.exitcode == -signal.SIGINT:
                        raise KeyboardInterrupt
                    record = _lost(item, w.proc.exitcode)
                    w.stop(now=True)
                    pool.remove(w)
                    if queue:
                        w = _Worker(ctx, outdir)
                        pool.append(w)
                if queue:
                    w.give(queue.popleft())
                yield record
        clean = True
    finally:
        for w in pool:
            w.stop(now=not clean)


def _check_ray_address(address: str) -> None:
    """Fail fast when an explicit ``host:port`` does not answer (Ray itself waits minutes)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ParameterError(f"--address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ParameterError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
            "'ray start --head', or leave out --address for a local instance"
        ) from None


def _ray(items: list[Item], outdir: str, workers: int,
         address: str | None) -> Iterator[dict[str, Any]]:  # fmt: skip
    from spa2v.extras import require

    (ray,) = require("distributed", "the ray engine")
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            _check_ray_address(address)
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ParameterError(f"cannot connect to Ray at {address}: {exc}") from None
        started = True
    try:
        tasks = {gpu: ray.remote(num_cpus=1, num_gpus=int(gpu))(run_item) for gpu in (False, True)}
        pending = [tasks[it.config.render.generator == "diffusion"].remote(it, outdir)
                   for it in items]  # fmt: skip
        while pending:  # results stream back as they finish
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        for ref in locals().get("pending", []):
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _reconcile(log_path: Path, items: list[Item], out: Path, done: set[str],
               retry_failed: bool) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Make ``results.jsonl`` agree with the item folders; return the last record per name.

    An item whose folder is complete gets an ``ok`` line (read from its ``run.json``) if the
    batch was stopped before it could write one; a line that claims ``ok`` for an incomplete
    folder is dropped; lines of items about to be tried again are dropped (they get a new one).
    The file is rewritten (atomically) with one line per item. ``done`` names the items whose
    folders are complete (:func:`is_done`).
    """
    last: dict[str, dict[str, Any]] = {}
    before = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else None
    if before is not None:
        for line in before.splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(rec, dict) and isinstance(rec.get("name"), str):
                last[rec["name"]] = rec
    for it in items:
        folder = out / it.name
        rec = last.get(it.name)
        if it.name in done:
            if rec is None or rec.get("status") != "ok":
                last[it.name] = _record_from_run(it, folder)
        elif rec is not None and (rec.get("status") == "ok" or retry_failed):
            del last[it.name]
    text = "".join(dumps_json(r) + "\n" for r in last.values())
    if before != text:
        atomic_write_text(log_path, text)
    return last


def _record_from_run(item: Item, folder: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"name": item.name, "audio": item.audio, "outdir": str(folder),
                              "status": "ok"}  # fmt: skip
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        record["timings_s"] = run.get("timings_s", {})
        record["finished"] = run.get("created")
    except (OSError, ValueError, AttributeError):
        pass
    record["reconciled"] = True  # written from the folder, not when the item finished
    return record


def run_batch(
    source: str | Path,
    outdir: str | Path,
    *,
    workers: int = 1,
    engine: str = "local",
    address: str | None = None,
    config: RunConfig | Mapping[str, Any] | None = None,
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
        Items processed at once (each in its own process when more than one).
    engine : {"local", "ray"}
        Processes on this machine, or Ray tasks (a local instance, or ``address``).
    address : str or None
        Address of an existing Ray cluster (``auto`` for the one this machine belongs to).
    config : RunConfig or mapping or None
        The run configuration of every item (rows of a manifest may override options).
    retry_failed : bool
        Try again the items whose last recorded attempt failed.
    progress : callable or None
        Called with ``(items finished or skipped, items)``.

    Returns
    -------
    dict
        ``items``; this run's ``ok`` and ``error``; ``skipped`` (done before, or failed
        before and not retried), of which ``failed_before``; ``failed``, the items whose
        last attempt failed (this run's and earlier ones); wall time; per-item records of
        this run.
    """
    if engine not in ("local", "ray"):
        raise ParameterError(f"--engine must be local or ray, got {engine!r}")
    if address is not None and engine != "ray":
        raise ParameterError("--address is the address of a Ray cluster: it needs --engine ray")
    if not 1 <= workers <= 1024:
        raise ParameterError("--workers must be within 1 … 1024")
    base = RunConfig.build(config)  # a bad option for every item stops the batch before it starts
    items = discover(source, base)
    _preflight(items)
    out = Path(outdir).absolute()
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{outdir}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot create the folder {outdir}: {exc.strerror}") from None
    with folder_lock(out):  # one batch at a time writes into OUTDIR
        return _run_locked(
            items, out, workers=workers, engine=engine, address=address,
            retry_failed=retry_failed, progress=progress,
        )  # fmt: skip


def _preflight(items: list[Item]) -> None:
    """Check once, before any item, every backend the items will use (extras, weights…)."""
    from spa2v.api import preflight

    backends = {"planning": {"planner"}, "render": {"generator", "judge", "detector_model"},
                "llm": True, "tagging": True, "diffusion": True}  # fmt: skip
    seen = set()
    for it in items:
        key = it.config.model_dump_json(include=backends)  # type: ignore[arg-type]
        if it.error is None and key not in seen:
            seen.add(key)
            preflight(it.config)


def _clean_skipped(items: list[Item], out: Path) -> None:
    """Remove what killed runs left in the folders of items this run does not redo."""
    from spa2v.api import RUN_FILES

    for it in items:
        folder = out / it.name
        if folder.is_dir():
            try:
                with folder_lock(folder):
                    remove_leftovers(folder, tuple(RUN_FILES.values()))
                if not any(folder.iterdir()):
                    folder.rmdir()  # all that was there was what a killed run left
            except (FolderBusyError, OSError):
                continue  # in use, or not ours to clean


def _run_locked(items: list[Item], out: Path, *, workers: int,
                engine: str, address: str | None, retry_failed: bool,
                progress: Callable[[int, int], None] | None) -> dict[str, Any]:  # fmt: skip
    log_path = out / "results.jsonl"
    done = {it.name for it in items if is_done(out / it.name, it.audio)}
    last = _reconcile(log_path, items, out, done, retry_failed)
    failed_before = {it.name for it in items
                     if last.get(it.name, {}).get("status") == "error"}  # fmt: skip
    todo = [it for it in items if it.name not in done and it.name not in failed_before]
    _clean_skipped([it for it in items if it not in todo], out)
    skipped = len(items) - len(todo)
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if progress is not None:
        progress(skipped, len(items))
    runner = (_local(todo, str(out), workers) if engine == "local"
              else _ray(todo, str(out), workers, address))  # fmt: skip
    with closing(runner), open(log_path, "a", encoding="utf-8") as log:
        for record in runner:
            record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            log.write(dumps_json(record) + "\n")
            log.flush()
            os.fsync(log.fileno())
            records.append(record)
            if progress is not None:
                progress(skipped + len(records), len(items))
    errors = sum(r["status"] == "error" for r in records)
    return {
        "items": len(items),
        "ok": sum(r["status"] == "ok" for r in records),
        "error": errors,
        "skipped": skipped,
        "failed_before": len(failed_before),
        "failed": errors + len(failed_before),
        "seconds": round(time.perf_counter() - t0, 3),
        "records": records,
        "engine": engine,
        "workers": workers,
    }

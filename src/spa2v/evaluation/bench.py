"""A benchmark with ground truth: synthetic stereo clips, their true layouts, and a runner.

``make_benchmark`` draws scenes across microphone models (head, spaced, coincident, panned),
conditions (clean; reverberant: RT60 0.5 s, DRR +3 dB; noisy: SNR 10 dB) and families (a
static source on the left, centre or right; crossings left to right and right to left; a
pass-by; an approach; a recession; two and three simultaneous sources), writes each clip as
WAV with its ground-truth layout (:func:`spa2v.layout.truth.layout_from_truth`, 2 keyframes
per second) and scene truth, and a ``manifest.jsonl``. The same seed gives the same benchmark.

``run_benchmark`` plans every clip with a planner (in parallel), scores the plans against the
ground truth (:mod:`spa2v.evaluation.layout`, :mod:`spa2v.evaluation.spatial`) and aggregates
per condition, microphone and family.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from spa2v.errors import ParameterError

MICS = ("head", "spaced", "coincident", "panned")
CONDITIONS = {
    "clean": {},
    "reverberant": {"rt60_s": 0.5, "drr_db": 3.0},
    "noisy": {"snr_db": 10.0},
}
FAMILIES = ("static", "left_to_right", "right_to_left", "passby", "approaching", "receding",
            "two", "three", "late")  # fmt: skip
DURATION_S = 4.0
_NAMES = {"engine": "car", "speech": "person", "bursts": "dog", "chirps": "bird",
          "hum": "fan", "noise": "waterfall"}  # fmt: skip


def _recipe(i: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, i])
    mic = MICS[i % len(MICS)]
    cond = list(CONDITIONS)[(i // len(MICS)) % len(CONDITIONS)]
    family = FAMILIES[(i // (len(MICS) * len(CONDITIONS))) % len(FAMILIES)]
    return {"index": i, "seed": int(rng.integers(2**31)), "mic": mic, "condition": cond,
            "family": family}  # fmt: skip


def _sources(recipe: dict[str, Any], duration_s: float = DURATION_S):
    from spa2v.audio.synth import SceneSource, Trajectory

    rng = np.random.default_rng(recipe["seed"])
    d = duration_s
    fam = recipe["family"]
    steady = ("engine", "noise", "hum", "speech")
    kind = str(steady[rng.integers(len(steady))])
    if fam == "static":
        az = float(rng.choice([rng.uniform(30, 80), rng.uniform(-5, 5), -rng.uniform(30, 80)]))
        kind = str(("engine", "noise", "bursts", "chirps", "speech", "hum")[rng.integers(6)])
        return [SceneSource(_NAMES[kind], kind, Trajectory.static(az, rng.uniform(1.5, 8)))]
    if fam in ("left_to_right", "right_to_left"):
        a0 = rng.uniform(40, 80) * (1 if fam == "left_to_right" else -1)
        traj = Trajectory.sweep(d, a0, -a0, rng.uniform(3, 10), rng.uniform(3, 10))
        return [SceneSource(_NAMES[kind], kind, traj)]
    if fam == "passby":
        ltr = bool(rng.random() < 0.5)
        traj = Trajectory.line(d, speed_mps=rng.uniform(5, 12), closest_m=rng.uniform(3, 6),
                               t_closest_s=d / 2, left_to_right=ltr)  # fmt: skip
        return [SceneSource("car", "engine", traj)]
    if fam in ("approaching", "receding"):
        az = rng.uniform(-30, 30)
        far, near = rng.uniform(30, 40), rng.uniform(4, 6)
        d0, d1 = (far, near) if fam == "approaching" else (near, far)
        return [SceneSource(_NAMES[kind], kind, Trajectory.sweep(d, az, az, d0, d1))]
    if fam == "late":  # one source from the start, a second one joining on the other side
        first, second = rng.choice(steady, size=2, replace=False)
        a = rng.uniform(30, 75) * (1 if rng.random() < 0.5 else -1)
        return [SceneSource(_NAMES[str(first)], str(first),
                            Trajectory.static(a, rng.uniform(2, 6))),
                SceneSource(_NAMES[str(second)], str(second),
                            Trajectory.static(-a, rng.uniform(2, 6)),
                            start_s=float(rng.uniform(0.3, 0.6) * d))]  # fmt: skip
    kinds = rng.choice(steady, size=3 if fam == "three" else 2, replace=False)
    azs = ([rng.uniform(30, 75), -rng.uniform(30, 75)] if fam == "two"
           else [rng.uniform(45, 75), rng.uniform(-10, 10), -rng.uniform(45, 75)])  # fmt: skip
    return [
        SceneSource(_NAMES[str(k)], str(k), Trajectory.static(a, rng.uniform(2, 6)),
                    level_db=float(rng.uniform(-3, 3)))
        for k, a in zip(kinds, azs, strict=True)
    ]  # fmt: skip


def _make_one(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    from spa2v.audio.synth import render_scene
    from spa2v.layout.truth import layout_from_truth
    from spa2v.planning.base import PlanOptions

    recipe, outdir = args
    out = Path(outdir)
    name = f"{recipe['index']:05d}_{recipe['family']}_{recipe['mic']}_{recipe['condition']}"
    sources = _sources(recipe)
    scene = render_scene(
        sources, duration_s=DURATION_S, mic=recipe["mic"], seed=recipe["seed"] % 100_000,
        **CONDITIONS[recipe["condition"]],
    )  # fmt: skip
    scene.save(out / "clips" / f"{name}.wav", truth_path=out / "truth" / f"{name}.truth.json")
    times = PlanOptions().keyframe_times(DURATION_S)
    layout = layout_from_truth(scene.truth, times)
    layout.save(out / "gt" / f"{name}.layout.json")
    return {**recipe, "name": name, "audio": f"clips/{name}.wav",
            "layout": f"gt/{name}.layout.json", "truth": f"truth/{name}.truth.json",
            "labels": [o.name for o in layout.objects], "n_sources": len(sources)}  # fmt: skip


def make_benchmark(
    outdir: str | Path,
    *,
    scenes: int = 200,
    seed: int = 2026,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a benchmark of ``scenes`` clips with ground truth into ``outdir``.

    Returns
    -------
    Path
        The manifest (``outdir/manifest.jsonl``).
    """
    from spa2v.media.files import atomic_write_text, dumps_json

    if not 1 <= scenes <= 100_000:
        raise ParameterError(f"--scenes must be within 1 … 100000, got {scenes}")
    if not 0 <= seed <= 2**32 - 1:
        raise ParameterError(f"--seed must be within 0 … 2**32 - 1, got {seed}")
    if workers is not None and not 1 <= workers <= 1024:
        raise ParameterError(f"--workers must be within 1 … 1024, got {workers}")
    out = Path(outdir)
    if out.exists() and any(out.iterdir()):
        raise ParameterError(f"{out}: folder is not empty")
    out.mkdir(parents=True, exist_ok=True)
    recipes = [(_recipe(i, seed), str(out)) for i in range(scenes)]
    rows = []
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for k, row in enumerate(pool.map(_make_one, recipes, chunksize=4)):
            rows.append(row)
            if progress is not None:
                progress(k + 1, scenes)
    manifest = out / "manifest.jsonl"
    atomic_write_text(manifest, "".join(dumps_json(r) + "\n" for r in rows))
    meta = {"schema": "spa2v.bench/1", "scenes": scenes, "seed": seed, "duration_s": DURATION_S,
            "mics": MICS, "conditions": list(CONDITIONS), "families": FAMILIES}  # fmt: skip
    atomic_write_text(out / "benchmark.json", dumps_json(meta, indent=2))
    return manifest


def read_meta(dataset: str | Path) -> dict[str, Any]:
    """A benchmark's ``benchmark.json`` (empty when it has none)."""
    path = Path(dataset) / "benchmark.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_manifest(dataset: str | Path) -> list[dict[str, Any]]:
    """Rows of a benchmark's manifest."""
    path = Path(dataset) / "manifest.jsonl"
    if not path.exists():
        raise ParameterError(f"{dataset}: not a benchmark (no manifest.jsonl; spa2v bench make)")
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{path}: damaged manifest ({exc.msg})") from None
    if not rows:
        raise ParameterError(f"{path}: the benchmark has no clip")
    return rows


#: Per worker process: the judge's detector and generator, loaded once.
_LOADED: dict[tuple[str, ...], Any] = {}


def _judge(pred: Any, audio: Path, sheet: Any, judge: dict[str, Any], video_dir: Path | None,
           name: str, fov_deg: float) -> dict[str, float]:  # fmt: skip
    """Render the planned layout (``judge["generator"]``) and judge the video."""
    import tempfile

    from spa2v.api import render
    from spa2v.evaluation.judge import get_detector, judge_video
    from spa2v.generation.base import get_generator

    detector = ("detector", judge["detector"], judge.get("model") or "")
    generator = ("generator", judge.get("generator", "animatic"))
    if detector not in _LOADED:
        _LOADED[detector] = get_detector(judge["detector"], judge.get("model"))
    if generator not in _LOADED:
        _LOADED[generator] = get_generator(generator[1], None)
    with tempfile.TemporaryDirectory() as tmp:
        video = (video_dir or Path(tmp)) / f"{name}.mp4"
        render(pred, video, audio=audio, generator=_LOADED[generator])
        scores = judge_video(video, pred, _LOADED[detector], samples=judge.get("samples", 8),
                             cue_sheet=sheet, fov_deg=fov_deg)  # fmt: skip
    o = scores["overall"]
    return {"judge_found": o["detection_rate"], "judge_iou": o["iou"],
            "judge_side": o["side_agreement"]}  # fmt: skip


def _run_one(args: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Plan and score one clip; ``job`` holds what every clip shares (see run_benchmark)."""
    from spa2v.api import cues, dcase_predictions, plan
    from spa2v.evaluation.layout import layout_similarity
    from spa2v.evaluation.spatial import compare_layouts
    from spa2v.layout.vsl import VSL

    row, job = args
    root, pred_dir, camera = Path(job["dataset"]), job["pred_dir"], job["camera"]
    labels = list(row["labels"]) if job["labels"] else []
    sheet = cues(root / row["audio"], labels=labels)
    pred = plan(root / row["audio"], planner=job["planner"], labels=labels, cue_sheet=sheet,
                **camera)  # fmt: skip
    gt = VSL.load(root / row["layout"])
    if pred_dir:
        pred.save(Path(pred_dir) / f"{row['name']}.layout.json")
        if job["dcase"]:  # for the official scorer, same file names
            dcase_predictions(root / row["audio"], Path(pred_dir).parent / "dcase" /
                              f"{row['name']}.csv", labels=labels, cue_sheet=sheet)  # fmt: skip
    out = {"name": row["name"], "mic": row["mic"], "condition": row["condition"],
           "family": row["family"], "n_sources": row.get("n_sources"),
           **layout_similarity(pred, gt, convention=job["convention"]),
           **compare_layouts(pred, gt)}  # fmt: skip
    if job["judge"]:
        videos = Path(pred_dir).parent / "videos" if pred_dir else None
        out.update(_judge(pred, root / row["audio"], sheet, job["judge"], videos, row["name"],
                          camera.get("fov_deg", 90.0)))  # fmt: skip
    if job["dcase"]:
        from spa2v.evaluation.dcase import clip_scores

        scores = clip_scores(pred, root / row["truth"], fov_deg=camera["fov_deg"],
                             frame_size=(camera["width"], camera["height"]))  # fmt: skip
        out["az_errors_deg"] = scores["az_errors_deg"]
        out["onscreen_agree"] = scores["onscreen_agree"]
    return out


def _camera(meta: dict[str, Any]) -> dict[str, Any]:
    """The planner's camera options of a benchmark that has its own (DCASE2025: 100°,
    640×360); empty for the synthetic benchmark (the planner's defaults)."""
    if not meta.get("fov_deg"):
        return {}
    width, height = (int(v) for v in meta.get("frame_size", (512, 320)))
    return {"fov_deg": float(meta["fov_deg"]), "width": width, "height": height}


def run_benchmark(
    dataset: str | Path,
    *,
    planner: str = "cues",
    labels: bool = False,
    workers: int | None = None,
    pred_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    convention: str = "strict",
    judge: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Plan and score every clip of a benchmark; one result per clip (layout metrics under
    ``convention``: see :mod:`spa2v.evaluation.layout`). With ``judge`` (``detector``,
    optionally ``model``, ``generator``, ``samples``) every plan is also rendered and the
    video judged (:func:`spa2v.evaluation.judge.judge_video`): columns ``judge_found``,
    ``judge_iou``, ``judge_side``; the videos are kept beside the planned layouts."""
    from spa2v.evaluation.layout import CONVENTIONS
    from spa2v.planning import get_planner

    if convention not in CONVENTIONS:
        raise ParameterError(f"--convention must be strict or reference, got {convention!r}")
    get_planner(planner)  # unknown names fail here
    rows = read_manifest(dataset)
    meta = read_meta(dataset)
    dcase = meta.get("dataset") == "dcase2025"
    if judge:
        from spa2v.evaluation.judge import get_detector
        from spa2v.generation.base import get_generator

        detector = get_detector(judge["detector"], judge.get("model"))
        if detector is not None:
            detector.preflight()  # the extra and the weights, before any work
            get_generator(judge.get("generator", "animatic"), None).preflight()
            if judge.get("generator") == "diffusion":
                workers = 1  # one diffusion pipeline on the GPU, not one per core
        else:
            judge = None
    if pred_dir:
        Path(pred_dir).mkdir(parents=True, exist_ok=True)
        for extra, wanted in (("dcase", dcase), ("videos", bool(judge))):
            if wanted:
                (Path(pred_dir).parent / extra).mkdir(parents=True, exist_ok=True)
    job = {"dataset": str(dataset), "planner": planner, "labels": labels,
           "pred_dir": str(pred_dir) if pred_dir else None, "convention": convention,
           "judge": judge, "camera": _camera(meta), "dcase": dcase}  # fmt: skip
    args = [(r, job) for r in rows]
    results = []
    # judging runs torch in the workers: fresh processes, not forks of one that has torch
    context = multiprocessing.get_context("spawn") if judge else None
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                             mp_context=context) as pool:  # fmt: skip
        for k, res in enumerate(pool.map(_run_one, args, chunksize=4)):
            results.append(res)
            if progress is not None:
                progress(k + 1, len(rows))
    return results


def summarise(results: list[dict[str, Any]]) -> dict[str, float]:
    """Aggregate figures of a list of clip results."""
    from scipy.stats import spearmanr

    objs = [o for r in results for o in r["objects"]]
    static = [o for o in objs if o["motion"] == "static" and o["side"] != "centre"]
    moving = [o for o in objs if o["motion"] != "static"]
    trend = [o for o in objs if o["trend"] != "steady"]
    xg = np.array([v for o in objs for v in o["x_gt"]])
    xp = np.array([v for o in objs for v in o["x_pred"]])
    err = [o["centre_error"] for o in objs if math.isfinite(o["centre_error"])]

    def mean(values: list) -> float:
        return float(np.mean(values)) if values else float("nan")

    return {
        "clips": len(results),
        # NaN: a clip whose frames were all skipped (the reference convention)
        "max_iou": mean([r["max_iou"] for r in results if math.isfinite(r["max_iou"])]),
        "ltsim": mean([r["ltsim"] for r in results]),
        "docsim": mean([r["docsim"] for r in results]),
        "count_acc": mean([r["count_ok"] for r in results]),
        "side_acc": mean([o["side_ok"] for o in objs]),
        "static_side_acc": mean([o["side_ok"] for o in static]),
        "motion_acc": mean([o["motion_ok"] for o in moving]),
        "trend_acc": mean([o["trend_ok"] for o in trend]),
        "centre_error": mean(err),
        "rank_corr": float(spearmanr(xg, xp).statistic) if xg.size > 2 and np.ptp(xp) > 0
        else float("nan"),
        "early_wrong_side": float(sum(o.get("early_wrong_side", 0) for o in objs)),
        **_label_scores(results),
        **{k: mean([r[k] for r in results if math.isfinite(r.get(k, math.nan))])
           for k in ("judge_found", "judge_iou", "judge_side") if any(k in r for r in results)},
    }  # fmt: skip


def _label_scores(results: list[dict[str, Any]]) -> dict[str, float]:
    """Azimuth error and on/off-screen agreement, over all matched pairs of the clips that
    have labels (:func:`spa2v.evaluation.dcase.clip_scores`); nothing for other benchmarks."""
    if not any("az_errors_deg" in r for r in results):
        return {}
    errors = [e for r in results for e in r.get("az_errors_deg", [])]
    agree = [a for r in results for a in r.get("onscreen_agree", [])]
    return {"az_error_deg": float(np.mean(errors)) if errors else float("nan"),
            "onscreen_acc": float(np.mean(agree)) if agree else float("nan")}  # fmt: skip


def grouped(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """:func:`summarise` per value of ``key`` (condition, mic or family)."""
    groups: dict[str, list] = {}
    for r in results:
        groups.setdefault(r[key], []).append(r)
    return {k: summarise(v) for k, v in sorted(groups.items())}


COLUMNS = ("clips", "max_iou", "ltsim", "docsim", "count_acc", "side_acc", "motion_acc",
           "trend_acc", "centre_error", "rank_corr", "early_wrong_side")  # fmt: skip
#: Columns of benchmarks with labelled azimuths and on-screen flags (DCASE2025), and of runs
#: that judge rendered videos.
LABEL_COLUMNS = ("az_error_deg", "onscreen_acc", "judge_found", "judge_iou", "judge_side")


def columns(rows: dict[str, dict[str, float]]) -> tuple[str, ...]:
    """The columns of a table of summaries: :data:`COLUMNS`, and the optional ones present."""
    extra = tuple(c for c in LABEL_COLUMNS if any(c in s for s in rows.values()))
    return COLUMNS + extra


def markdown_table(rows: dict[str, dict[str, float]], first: str) -> str:
    """A Markdown table of summaries, one row per group."""
    cols = columns(rows)
    head = f"| {first} | " + " | ".join(cols) + " |"
    sep = "|" + "---|" * (len(cols) + 1)
    lines = [head, sep]
    for name, s in rows.items():
        cells = []
        for c in cols:
            v = s.get(c, float("nan"))
            counted = c in ("clips", "early_wrong_side")
            cells.append(str(int(v)) if counted else "–" if not math.isfinite(v) else f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    results: list[dict[str, Any]],
    outdir: str | Path,
    *,
    title: str,
    baseline: list[dict[str, Any]] | None = None,
    gt_dir: str | Path | None = None,
    pred_dir: str | Path | None = None,
    convention: str = "strict",
) -> Path:
    """``results.json``, ``report.md`` and plots into ``outdir``; returns the report path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spa2v.media.files import atomic_path, atomic_write_text, dumps_json

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    overall = {"all": summarise(results)}
    if baseline is not None:
        overall["baseline (naive)"] = summarise(baseline)
    doc = {"convention": convention, "overall": overall["all"],
           "by_condition": grouped(results, "condition"),
           "by_mic": grouped(results, "mic"), "by_family": grouped(results, "family"),
           "clips": results}  # fmt: skip
    if baseline is not None:
        doc["baseline"] = summarise(baseline)
    atomic_write_text(out / "results.json", dumps_json(doc, indent=1, default=float))

    figs = []
    # per-condition bars
    fig, ax = plt.subplots(figsize=(8, 3.5))
    metrics = ("ltsim", "side_acc", "motion_acc", "trend_acc", "count_acc")
    conds = list(doc["by_condition"])
    for k, m in enumerate(metrics):
        vals = [doc["by_condition"][c][m] for c in conds]
        ax.bar(np.arange(len(conds)) + k * 0.15, np.nan_to_num(vals), width=0.15, label=m)
    ax.set_xticks(np.arange(len(conds)) + 0.3, conds)
    ax.set_ylim(0, 1.05)
    ax.legend(ncol=5, fontsize=7, loc="lower center")
    ax.set_title("per condition")
    figs.append(("conditions.png", fig))
    # error histogram
    fig, ax = plt.subplots(figsize=(5, 3))
    err = [o["centre_error"] for r in results for o in r["objects"]
           if math.isfinite(o["centre_error"])]  # fmt: skip
    ax.hist(err, bins=30, color="tab:blue")
    ax.set_xlabel("box centre error (fraction of the frame)")
    ax.set_ylabel("objects")
    figs.append(("centre_error.png", fig))
    # example layouts over time
    if gt_dir and pred_dir:
        from spa2v.layout.vsl import VSL

        examples, seen = [], set()
        for r in results:  # one clip of each family
            if r["family"] not in seen:
                seen.add(r["family"])
                examples.append(r)
        fig, axes = plt.subplots(len(examples), 1, figsize=(6, 1.4 * len(examples)), sharex=True,
                                 squeeze=False)  # fmt: skip
        for ax, r in zip(axes[:, 0], examples, strict=True):
            for src, style in ((gt_dir, "-"), (pred_dir, "--")):
                lay = VSL.load(Path(src) / f"{r['name']}.layout.json")
                t = lay.frame_times(40)
                for _oid, rows in lay.interpolate(t).items():
                    ax.plot(t, (rows[:, 0] + rows[:, 2]) / 2, style)
            ax.set_ylim(1, 0)
            ax.set_ylabel("x (0 = left)", fontsize=7)
            ax.set_title(r["name"], fontsize=7)
        axes[-1, 0].set_xlabel("time (s) — solid: ground truth, dashed: planned")
        figs.append(("examples.png", fig))
    for name, fig in figs:
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)

    parts = [f"# {title}", "", "## Overall", "", markdown_table(overall, "planner"), "",
             "## By condition", "", markdown_table(doc["by_condition"], "condition"), "",
             "## By microphones", "", markdown_table(doc["by_mic"], "microphones"), "",
             "## By family", "", markdown_table(doc["by_family"], "family"), ""]  # fmt: skip
    parts += [f"![{n}]({n})" for n, _ in figs]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(parts) + "\n")
    return report

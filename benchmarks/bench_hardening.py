"""Figures of issue #15 (hardening), each beside a baseline measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_hardening.py [--synth-minutes 60] [--skip-synth]``

1. Start-up: ``spa2v --help`` and ``spa2v plan`` on a 5 s clip next to ``python -c pass``
   (median of 7 runs each). Target: ``plan`` ≤ 0.5 s.
2. Ctrl-C of a batch (10 clips, 2 workers): seconds from SIGINT to the batch's exit, and the
   processes of its group left 1 s later. Targets: ≤ 2 s, none left.
3. Peak memory of ``spa2v synth``: 60 s (rendered whole, the baseline) against
   ``--synth-minutes`` (rendered in segments). Target: < 500 MB for an hour.
4. Peak memory of rendering the first 2000 frames of a layout that claims 20 s (baseline)
   and one that claims 10^7 s. Target: the same.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPA2V = [sys.executable, "-m", "spa2v.cli"]
#: The installed console script, as a user starts it.
SCRIPT = str(Path(sys.executable).parent / "spa2v")


def median_seconds(cmd: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def group_alive(pgid: int) -> int:
    alive = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        alive += int(fields[2]) == pgid and fields[0] != "Z"
    return alive


def peak_mb(code: str) -> tuple[float, float]:
    """Seconds and peak resident memory (VmHWM) of ``code`` run in a fresh interpreter."""
    body = (
        "import time\nt0 = time.perf_counter()\n" + code + "\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(time.perf_counter() - t0, int(hwm) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, check=True)
    seconds, mb = out.stdout.split()[-2:]
    return float(seconds), float(mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synth-minutes", type=float, default=60.0)
    ap.add_argument("--skip-synth", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = root / "five.wav"
        subprocess.run([*SPA2V, "synth", str(clip), "--duration", "5"], check=True,
                       capture_output=True)  # fmt: skip

        print("## 1. Start-up (median of 7 runs)\n")
        base = median_seconds([sys.executable, "-c", "pass"])
        plan_cmd = [SCRIPT, "plan", str(clip), "-o", str(root / "l.json"), "-q"]
        rows = [
            ("python -c pass (baseline)", base),
            ("spa2v --help", median_seconds([SCRIPT, "--help"])),
            ("spa2v plan (5 s clip)", median_seconds(plan_cmd)),
        ]
        print("| command | seconds | x python -c pass |")
        print("|---|---|---|")
        for name, sec in rows:
            print(f"| {name} | {sec:.3f} | {sec / base:.1f} |")
        plan_s = rows[-1][1]
        print(f"\nplan <= 0.5 s: {'MET' if plan_s <= 0.5 else 'NOT MET'} ({plan_s:.3f} s)\n")

        print("## 2. Ctrl-C of a batch (10 clips of 3 s, 2 workers)\n")
        src = root / "in"
        src.mkdir()
        for k in range(10):
            subprocess.run([*SPA2V, "synth", str(src / f"c{k}.wav"), "--duration", "3",
                            "--seed", str(k)], check=True, capture_output=True)  # fmt: skip
        out = root / "out"
        proc = subprocess.Popen([*SPA2V, "batch", str(src), "-o", str(out), "--workers", "2",
                                 "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        log = out / "results.jsonl"
        while not log.exists() or not log.read_text().strip():
            time.sleep(0.02)
        time.sleep(0.3)
        t0 = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        proc.wait()
        stop_s = time.perf_counter() - t0
        lines = len(log.read_text().splitlines())
        time.sleep(1.0)
        left = group_alive(proc.pid)
        print(
            f"exit status {proc.returncode}; stopped in {stop_s:.2f} s (target <= 2 s); "
            f"{lines} of 10 items done; processes left after 1 s: {left} (target 0)"
        )
        rerun = subprocess.run([*SPA2V, "batch", str(src), "-o", str(out), "--workers", "2",
                                "-q"], capture_output=True)  # fmt: skip
        names = [line.split('"name": "')[1].split('"')[0] for line in log.read_text().splitlines()]
        print(
            f"rerun: exit status {rerun.returncode}, {len(names)} lines for "
            f"{len(set(names))} items (target: 10 and 10)\n"
        )

        print("## 3. Peak memory of spa2v synth\n")
        if args.skip_synth:
            print("(skipped)\n")
        else:
            print("| duration | how | seconds | peak RSS (MB) |")
            print("|---|---|---|---|")
            for minutes, how in ((1.0, "whole (baseline)"), (args.synth_minutes, "segments")):
                wav = root / f"s{minutes:g}.wav"
                code = ("import sys\nfrom spa2v.cli import app\nsys.argv = ['spa2v', 'synth', "
                        f"{str(wav)!r}, '--duration', '{minutes * 60:g}', '--preset', 'passby', "
                        "'--rt60', '0.5']\ntry:\n    app()\nexcept SystemExit as e:\n"
                        "    assert not e.code")  # fmt: skip
                sec, mb = peak_mb(code)
                print(f"| {minutes:g} min | {how} | {sec:.1f} | {mb:.0f} |")
                wav.unlink()
            print("\ntarget: < 500 MB for an hour\n")

        print("## 4. Peak memory of rendering 2000 frames (animatic + overlay, 64x48)\n")
        print("| layout claims | seconds | peak RSS (MB) |")
        print("|---|---|---|")
        for duration in (20.0, 1e7):
            code = (
                "from spa2v.generation.animatic import AnimaticGenerator\n"
                "from spa2v.generation.base import RenderRequest\n"
                "from spa2v.generation.overlay import Overlay\n"
                "from spa2v.layout.vsl import VSL\n"
                f"layout = VSL(duration={duration}, caption='A car.', "
                "objects=[{'id': 0, 'name': 'car'}], keyframes=[{'time': 0.0, 'boxes': "
                "[{'id': 0, 'box': [0.1, 0.4, 0.3, 0.6]}]}, {'time': "
                f"{duration}, 'boxes': [{{'id': 0, 'box': [0.7, 0.4, 0.9, 0.6]}}]}}])\n"
                "request = RenderRequest(layout=layout, fps=100, width=64, height=48)\n"
                "marks = Overlay(layout, request.n_frames)\n"
                "for i, frame in enumerate(AnimaticGenerator().frames(request)):\n"
                "    marks.draw(frame, i)\n"
                "    if i == 1999:\n        break\n"
            )
            sec, mb = peak_mb(code)
            print(f"| {duration:g} s | {sec:.1f} | {mb:.0f} |")


if __name__ == "__main__":
    main()

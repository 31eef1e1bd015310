"""Peak memory of analysing a one-hour 48 kHz stereo file (issue #2: under 500 MB).

Run: ``.venv/bin/python benchmarks/bench_long.py [--minutes 60]``

Writes a WAV of the requested length into a temporary folder (about 11.5 MB per minute), then
measures, each in a fresh subprocess, the peak resident memory (ru_maxrss) of
  1. the interpreter with spa2v's cue modules imported (baseline),
  2. ``analyze_file`` on the file (the streamed analysis),
  3. the full CLI ``spa2v cues FILE -o cues.json --plot cues.png``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

from spa2v.audio.synth import render_preset

# VmHWM (peak resident set) is per address space and starts afresh at exec, unlike ru_maxrss,
# which Linux carries over from the forking parent.
CHILD = """
import sys, time
from spa2v.audio.cues import analyze_file
t0 = time.perf_counter()
{body}
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t0, int(hwm) / 1024)
"""


def write_long_wav(path: Path, minutes: float) -> None:
    sr = 48_000
    chunks = [
        render_preset(p, duration_s=60.0, mic="panned", sr=sr, seed=i).audio
        for i, p in enumerate(("passby", "duet", "approach", "static-left"))
    ]
    total = int(minutes * 60 * sr)
    written = 0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sr)
        i = 0
        while written < total:
            chunk = chunks[i % len(chunks)][:, : total - written]
            w.writeframes((chunk.T * 32767).astype("<i2").tobytes())
            written += chunk.shape[1]
            i += 1


def child(body: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(body=body)], capture_output=True, text=True, check=True
    )
    seconds, peak_mb = out.stdout.split()[-2:]
    return float(seconds), float(peak_mb)


def cli_peak(args: list[str]) -> tuple[float, float]:
    body = (
        f"sys.argv = ['spa2v', *{args!r}]\n"
        "from spa2v.cli import app\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code"
    )
    return child(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        t0 = time.perf_counter()
        write_long_wav(wav, args.minutes)
        print(
            f"wrote {args.minutes:g} min test file ({wav.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        rows = [
            ("imports only (baseline)", child("pass")),
            ("analyze_file (streamed)", child(f"cues = analyze_file({str(wav)!r})")),
            (
                "CLI: cues -o json --plot png",
                cli_peak(
                    [
                        "cues",
                        str(wav),
                        "-o",
                        str(Path(tmp) / "c.json"),
                        "--plot",
                        str(Path(tmp) / "c.png"),
                        "-q",
                    ]
                ),
            ),
        ]
    audio_s = args.minutes * 60
    print(f"\n## {args.minutes:g} min of 48 kHz stereo\n")
    print("| what | time (s) | x real time | peak RSS (MB) |")
    print("|---|---|---|---|")
    for name, (seconds, peak) in rows:
        speed = f"{audio_s / seconds:.0f}x" if "baseline" not in name else "-"
        print(f"| {name} | {seconds:.1f} | {speed} | {peak:.0f} |")
    worst = max(peak for _, (_, peak) in rows)
    print(f"\ntarget peak < 500 MB: {'MET' if worst < 500 else 'NOT MET'} (worst {worst:.0f} MB)")


if __name__ == "__main__":
    main()

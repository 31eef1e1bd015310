"""Speed and memory of the storyboard renderer + MP4 encoder (issue #4).

Run: ``.venv/bin/python benchmarks/bench_render.py [--repeats 3] [--skip-memory]``

Speed — a 10 s, 24 fps, 512×320 video of a two-source scene (the duet preset: a cow and a
helicopter crossing, with their sound cues), with the audio muxed in:

* **render + encode**: ``render_video`` (frames generated and streamed to the H.264 encoder,
  AAC audio interleaved), the cue sheet given;
* **encode only** (baseline, same run): the same frames, generated beforehand and held in
  memory, written with the same writer and audio.

The target is ≥ 100 frames/s for render + encode and a ratio to encode-only ≤ 2×.

Memory — peak resident memory (VmHWM) of a fresh process rendering videos of 10 s, 60 s and
180 s: frames are streamed to the encoder, so the peak should not grow with the duration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from spa2v.api import plan
from spa2v.audio.cues import analyze_file
from spa2v.audio.synth import render_preset
from spa2v.generation.animatic import AnimaticGenerator
from spa2v.generation.base import RenderRequest
from spa2v.generation.render import render_video
from spa2v.generation.sound import sound_traces
from spa2v.media.video import VideoWriter

CHILD = """
import sys, time
from spa2v.api import plan, cues
from spa2v.generation.render import render_video
wav, out = sys.argv[1], sys.argv[2]
layout = plan(wav, labels=["cow", "helicopter"])
t0 = time.perf_counter()
render_video(layout, out, audio=wav)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(time.perf_counter() - t0, int(hwm) / 1024)
"""


def scene(folder: Path, seconds: float) -> Path:
    wav = folder / f"duet_{seconds:g}s.wav"
    render_preset("duet", duration_s=seconds, seed=1).save(wav)
    return wav


def speed(folder: Path, repeats: int) -> None:
    wav = scene(folder, 10.0)
    sheet = analyze_file(wav)
    layout = plan(wav, labels=["cow", "helicopter"], cue_sheet=sheet)
    n = RenderRequest(layout=layout).n_frames
    out = folder / "video.mp4"

    full, enc = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        render_video(layout, out, audio=wav, cue_sheet=sheet)
        full.append(time.perf_counter() - t0)

        traces = sound_traces(layout, sheet, layout.frame_times(n))
        request = RenderRequest(layout=layout, sound=traces)
        frames = list(AnimaticGenerator().frames(request))
        from spa2v.audio.load import open_audio
        from spa2v.media.video import AUDIO_SR

        with open_audio(wav, sr=AUDIO_SR, block_s=0.5) as stream:
            t0 = time.perf_counter()
            with VideoWriter(out, width=512, height=320, fps=24, audio=iter(stream)) as w:
                for f in frames:
                    w.write(f)
            enc.append(time.perf_counter() - t0)
        del frames
    t_full, t_enc = statistics.median(full), statistics.median(enc)
    print(f"video: {n} frames (10 s, 24 fps, 512x320), 2 objects, AAC stereo; "
          f"median of {repeats}")  # fmt: skip
    print(f"{'render + encode':<22}{t_full:7.3f} s  {n / t_full:7.1f} frames/s")
    print(f"{'encode only (baseline)':<22}{t_enc:7.3f} s  {n / t_enc:7.1f} frames/s")
    verdict = "meets" if n / t_full >= 100 else "misses"
    print(f"ratio render+encode / encode-only: {t_full / t_enc:.2f}x (target <= 2x); "
          f"render + encode {verdict} >= 100 frames/s")  # fmt: skip


def memory(folder: Path) -> None:
    print("\npeak resident memory (fresh process: plan + render + encode with audio)")
    for seconds in (10.0, 60.0, 180.0):
        wav = scene(folder, seconds)
        res = subprocess.run(
            [sys.executable, "-c", CHILD, str(wav), str(folder / "long.mp4")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        t, mb = (float(x) for x in res.stdout.split()[-2:])
        print(f"  {seconds:5.0f} s video: {mb:7.1f} MB peak, render {t:6.2f} s "
              f"({seconds * 24 / t:.0f} frames/s)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        speed(Path(tmp), args.repeats)
        if not args.skip_memory:
            memory(Path(tmp))


if __name__ == "__main__":
    main()

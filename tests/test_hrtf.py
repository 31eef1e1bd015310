"""Measured-HRTF rendering, exercised with a small SOFA file written here."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from spa2v.audio.cues import compute_cues
from spa2v.audio.hrtf import load_sofa
from spa2v.audio.synth import SceneSource, Trajectory, render_scene
from spa2v.errors import ParameterError


def _write_sofa(path: Path, *, sr: float = 44_100.0, swap_ears: bool = False) -> Path:
    """A toy SOFA file: 12 horizontal directions, pure delays and gains like a head."""
    az = np.arange(0, 360, 30.0)
    taps = 64
    ir = np.zeros((az.size + 1, 2, taps))
    for k, a in enumerate(az):
        lateral = np.sin(np.radians(a))  # +1 at 90° (left)
        delay_l = int(round(10 - 8 * lateral))
        delay_r = int(round(10 + 8 * lateral))
        ir[k, 0, delay_l] = 10 ** (6 * lateral / 20)
        ir[k, 1, delay_r] = 10 ** (-6 * lateral / 20)
    pos = np.c_[np.r_[az, 0.0], np.r_[np.zeros(az.size), 40.0], np.full(az.size + 1, 1.4)]
    receivers = np.array([[[0.0], [0.09], [0.0]], [[0.0], [-0.09], [0.0]]])
    if swap_ears:
        ir = ir[:, ::-1]
        receivers = receivers[::-1]
    with h5py.File(path, "w") as f:
        f["Data.IR"] = ir
        f["SourcePosition"] = pos
        f["Data.SamplingRate"] = np.array([sr])
        f["ReceiverPosition"] = receivers
    return path


@pytest.mark.parametrize("swap", [False, True])
def test_sofa_loads_with_left_ear_first(tmp_path: Path, swap: bool) -> None:
    h = load_sofa(_write_sofa(tmp_path / "toy.sofa", swap_ears=swap), sr=48_000)
    assert h.hrir.shape[:2] == (12, 2) and h.sr == 48_000
    assert np.all(np.diff(h.azimuth_deg) > 0) and h.azimuth_deg.min() >= -180
    left = h.nearest(np.array([90.0]))[0]
    energy = (h.hrir[left] ** 2).sum(axis=1)
    assert energy[0] > energy[1]  # a source on the left is louder in the left ear


def test_rendered_scene_has_the_right_cues(tmp_path: Path) -> None:
    h = load_sofa(_write_sofa(tmp_path / "toy.sofa"), sr=48_000)
    for az, sign in ((60.0, 1), (-60.0, -1)):
        scene = render_scene(
            [SceneSource("x", "noise", Trajectory.static(az, 3.0))],
            duration_s=1.0,
            mic="hrtf",
            hrtf=h,
        )
        cues = compute_cues(scene.audio, sr=scene.sr)
        assert np.sign(np.median(cues.frames.itd_ms)) == sign
        assert np.sign(np.median(cues.frames.ild_db)) == sign
        assert cues.summary.side == ("left" if sign > 0 else "right")


def test_bad_sofa_files(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no such SOFA file"):
        load_sofa(tmp_path / "missing.sofa", sr=48_000)
    junk = tmp_path / "junk.sofa"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ParameterError, match="not a readable SOFA"):
        load_sofa(junk, sr=48_000)
    with pytest.raises(ParameterError, match="hrtf"):
        render_scene(
            [SceneSource("x", "noise", Trajectory.static(0.0))], duration_s=0.5, mic="hrtf"
        )

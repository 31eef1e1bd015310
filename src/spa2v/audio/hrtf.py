"""Measured head-related transfer functions (SOFA files) for rendering synthetic scenes.

A measured dummy head (e.g. the MIT KEMAR set that Debian's ``libmysofa1`` package installs as
``/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa``) checks the cue analysis against real
ears instead of the synthesiser's own spherical-head model. SOFA files are HDF5; reading them
needs ``h5py`` (in the ``dev`` extra).

Only the horizontal plane (elevation 0°) is used; :mod:`spa2v.audio.synth` renders scenes
through it (``mic="hrtf"``). SOFA azimuths run counter-clockwise from
the front, 90° = left, which is spa2v's convention after wrapping to −180…180°.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spa2v.errors import ParameterError


@dataclass(frozen=True)
class HRTFSet:
    """Horizontal-plane head-related impulse responses.

    Attributes
    ----------
    azimuth_deg : np.ndarray [shape=(k,)]
        Measured azimuths, sorted, −180…180° (+ = left).
    hrir : np.ndarray [shape=(k, 2, taps)]
        Impulse responses, left ear first, at ``sr``.
    sr : int
        Sample rate of ``hrir`` in Hz.
    """

    azimuth_deg: np.ndarray
    hrir: np.ndarray
    sr: int

    def nearest(self, azimuth_deg: np.ndarray) -> np.ndarray:
        """Index of the measured direction nearest each azimuth (front/back kept)."""
        diff = (np.asarray(azimuth_deg)[:, None] - self.azimuth_deg[None, :] + 180.0) % 360.0
        return np.argmin(np.abs(diff - 180.0), axis=1)


def load_sofa(path: str | Path, *, sr: int) -> HRTFSet:
    """Read the horizontal plane of a SOFA file and resample it to ``sr``.

    Parameters
    ----------
    path : str or Path
        A SimpleFreeFieldHRIR SOFA file.
    sr : int
        Sample rate wanted.

    Returns
    -------
    HRTFSet

    Raises
    ------
    ParameterError
        Missing file, missing ``h5py``, or a file without horizontal-plane measurements.
    """
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "reading SOFA files needs h5py: pip install 'spa2v[dev]' (or pip install h5py)"
        ) from None
    import soxr

    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"{p}: no such SOFA file")
    try:
        with h5py.File(p, "r") as f:
            ir = np.asarray(f["Data.IR"], dtype=np.float64)
            pos = np.asarray(f["SourcePosition"], dtype=np.float64)
            file_sr = float(np.asarray(f["Data.SamplingRate"]).ravel()[0])
            receivers = np.asarray(f["ReceiverPosition"], dtype=np.float64).reshape(2, -1)
    except (OSError, KeyError) as exc:
        raise ParameterError(f"{p}: not a readable SOFA HRIR file ({exc})") from None
    horizontal = np.abs(pos[:, 1]) < 1e-6
    if horizontal.sum() < 8:
        raise ParameterError(f"{p}: fewer than 8 measurements at elevation 0°")
    az = (pos[horizontal, 0] + 180.0) % 360.0 - 180.0
    ir = ir[horizontal]
    if receivers[0, 1] < receivers[1, 1]:  # make channel 0 the left ear (positive y)
        ir = ir[:, ::-1]
    order = np.argsort(az)
    az, ir = az[order], ir[order]
    if int(round(file_sr)) != sr:
        k, _, taps = ir.shape
        flat = ir.reshape(k * 2, taps).T  # (taps, channels) for soxr
        ir = soxr.resample(flat, file_sr, sr, quality="VHQ").T.reshape(k, 2, -1)
    return HRTFSet(az, ir, sr)

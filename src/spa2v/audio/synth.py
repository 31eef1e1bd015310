"""Synthetic spatial scenes with ground truth, for tests, demos and benchmarks.

Mono sources are synthesised procedurally (no files needed) and moved along trajectories of
azimuth and distance, then rendered to two channels through one of four microphone models, or
one of two extra ones:

``head``
    A rigid spherical head (radius 8.75 cm): Woodworth time difference and the Brown–Duda
    one-pole head-shadow filter per ear, so the level difference grows with frequency.
``spaced``
    Two omni microphones 30 cm apart (A–B pair): exact path differences, large time
    differences, spatial aliasing above ~570 Hz, almost no level difference.
``coincident``
    An XY pair of cardioids at ±45°: level difference only, no time difference.
``panned``
    A constant-power (sin/cos) amplitude pan, as in a studio mix: level only.
``ortf``
    Two cardioids 17 cm apart angled ±55° (the French broadcasters' ORTF pair): time *and*
    level differences, neither as large as the spaced pair's or the coincident pair's. Not a
    benchmark target: it checks that the analysis was not tuned to the four models above.
``hrtf``
    A *measured* dummy head from a SOFA file (:mod:`spa2v.audio.hrtf`), to check the analysis
    on real ears rather than on the models above.

Propagation uses a variable delay line (distance / speed of sound), so a moving source has a
true Doppler shift, and 1/r attenuation. Optional diffuse reverberation (exponential noise
tails, with an inter-channel coherence typical of each array) and diffuse pink noise at a
chosen SNR make harder conditions.

Geometry: the listener is at the origin facing +y; x is positive to the **left**; azimuth is
``atan2(x, y)`` in degrees (positive = left, as everywhere in spa2v).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import signal as sps

from spa2v.audio.hrtf import HRTFSet
from spa2v.audio.load import check_sample_rate
from spa2v.audio.spatial import depth_trend, motion_of
from spa2v.errors import ParameterError

SPEED_OF_SOUND = 343.0
HEAD_RADIUS_M = 0.0875
SPACED_PAIR_M = 0.30
#: Capsule spacing (m) and angle (degrees) of the ORTF pair.
ORTF_SPACING_M = 0.17
ORTF_ANGLE_DEG = 55.0
MIC_MODELS = ("head", "spaced", "coincident", "panned")
#: Models outside the benchmark targets (``hrtf`` also needs a SOFA file).
EXTRA_MIC_MODELS = ("ortf",)
SOURCE_KINDS = ("engine", "noise", "bursts", "chirps", "speech", "hum")

MicModel = Literal["head", "spaced", "coincident", "panned", "ortf", "hrtf"]
SourceKind = Literal["engine", "noise", "bursts", "chirps", "speech", "hum"]


# --------------------------------------------------------------------------- trajectories
@dataclass(frozen=True)
class Trajectory:
    """Azimuth and distance of a source over time (linearly interpolated between points).

    Attributes
    ----------
    times_s : np.ndarray [shape=(k,)]
        Increasing times in seconds.
    x_m, y_m : np.ndarray [shape=(k,)]
        Position in metres: x positive to the left, y positive ahead.
    """

    times_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray

    def position(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position ``(x, y)`` at times ``t`` (held constant outside the defined range)."""
        return np.interp(t, self.times_s, self.x_m), np.interp(t, self.times_s, self.y_m)

    def azimuth_deg(self, t: np.ndarray) -> np.ndarray:
        """Azimuth at times ``t``; positive = left."""
        x, y = self.position(t)
        return np.degrees(np.arctan2(x, y))

    def distance_m(self, t: np.ndarray) -> np.ndarray:
        """Distance from the listener at times ``t``."""
        x, y = self.position(t)
        return np.hypot(x, y)

    @staticmethod
    def polar(times_s: np.ndarray, azimuth_deg: np.ndarray, distance_m: np.ndarray) -> Trajectory:
        """Trajectory through points given as azimuth (degrees, + = left) and distance."""
        az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
        d = np.asarray(distance_m, dtype=np.float64)
        t = np.asarray(times_s, dtype=np.float64)
        if t.ndim != 1 or t.size < 1 or np.any(np.diff(t) <= 0):
            raise ParameterError("trajectory times must be increasing")
        if np.any(d <= 0):
            raise ParameterError("trajectory distances must be positive")
        return Trajectory(t, d * np.sin(az), d * np.cos(az))

    @staticmethod
    def static(azimuth_deg: float, distance_m: float = 3.0) -> Trajectory:
        """A source that does not move."""
        return Trajectory.polar(np.array([0.0]), np.array([azimuth_deg]), np.array([distance_m]))

    @staticmethod
    def sweep(
        duration_s: float,
        az_start_deg: float,
        az_end_deg: float,
        distance_start_m: float = 3.0,
        distance_end_m: float | None = None,
        *,
        steps: int = 64,
    ) -> Trajectory:
        """Azimuth and distance changing linearly from start to end over the duration."""
        d1 = distance_start_m if distance_end_m is None else distance_end_m
        t = np.linspace(0.0, duration_s, steps)
        return Trajectory.polar(
            t,
            np.linspace(az_start_deg, az_end_deg, steps),
            np.linspace(distance_start_m, d1, steps),
        )

    @staticmethod
    def line(
        duration_s: float,
        *,
        speed_mps: float,
        closest_m: float,
        t_closest_s: float,
        left_to_right: bool = True,
        steps: int = 256,
    ) -> Trajectory:
        """A straight pass-by in front of the listener at constant speed."""
        t = np.linspace(0.0, duration_s, steps)
        sign = -1.0 if left_to_right else 1.0
        x = sign * speed_mps * (t - t_closest_s)
        return Trajectory(t, x, np.full_like(t, closest_m))


# --------------------------------------------------------------------------- sources
def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spec / np.sqrt(f), n=n)
    return pink / (np.std(pink) + 1e-12)


def _engine(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = rng.uniform(70.0, 160.0)
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t)
    phase = 2 * np.pi * np.cumsum(f0 * wobble) / sr
    y = np.zeros(n)
    for k in range(1, 30):
        if k * f0 > 0.45 * sr:
            break
        y += (k**-0.7) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    b, a = sps.butter(2, [300.0, min(6000.0, 0.45 * sr)], btype="band", fs=sr)
    y += 0.3 * sps.lfilter(b, a, rng.standard_normal(n)) * np.std(y)
    return y


def _noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    return _pink_noise(n, rng)


def _bursts(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Knocks/footsteps: short decaying noise bursts at irregular intervals."""
    y = np.zeros(n)
    t = rng.uniform(0.02, 0.2)
    while t < n / sr - 0.05:
        length = int(rng.uniform(0.04, 0.12) * sr)
        env = np.exp(-np.arange(length) / (0.02 * sr))
        burst = rng.standard_normal(length) * env
        i = int(t * sr)
        y[i : i + length] += burst[: max(0, min(length, n - i))]
        t += rng.uniform(0.25, 0.6)
    b, a = sps.butter(2, [150.0, min(8000.0, 0.45 * sr)], btype="band", fs=sr)
    return sps.lfilter(b, a, y)


def _chirps(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Bird-like upward/downward frequency sweeps."""
    y = np.zeros(n)
    t = rng.uniform(0.02, 0.2)
    while t < n / sr - 0.15:
        length = int(rng.uniform(0.06, 0.15) * sr)
        f_a, f_b = rng.uniform(2000.0, 4500.0, size=2)
        f_a, f_b = min(f_a, 0.4 * sr), min(f_b, 0.4 * sr)
        inst = np.linspace(f_a, f_b, length)
        tone = np.sin(2 * np.pi * np.cumsum(inst) / sr) * np.hanning(length)
        i = int(t * sr)
        y[i : i + length] += tone[: max(0, min(length, n - i))]
        t += rng.uniform(0.15, 0.4)
    return y


def _speech(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Formant-filtered glottal buzz with syllable rhythm and intonation."""
    t = np.arange(n) / sr
    f0 = rng.uniform(100.0, 220.0) * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t))
    phase = np.cumsum(f0) / sr
    pulses = np.diff(np.floor(phase), prepend=0.0)
    glottal = sps.lfilter([1.0], [1.0, -0.97], pulses)
    vowels = [(700, 1220, 2600), (300, 2300, 3000), (500, 1000, 2500), (400, 1900, 2550)]
    y = np.zeros(n)
    syll = int(sr / rng.uniform(3.5, 5.0))
    for start in range(0, n, syll):
        seg = slice(start, min(n, start + syll))
        f1, f2, f3 = vowels[rng.integers(len(vowels))]
        part = glottal[seg]
        out = np.zeros_like(part)
        for fc, bw in ((f1, 80), (f2, 100), (f3, 150)):
            if fc < 0.45 * sr:
                b, a = sps.iirpeak(fc, fc / bw, fs=sr)
                out += sps.lfilter(b, a, part)
        y[seg] = out * np.hanning(out.size) ** 0.5
    # pauses between phrases
    phrase = np.sin(2 * np.pi * rng.uniform(0.2, 0.35) * t + rng.uniform(0, 6)) > -0.6
    return y * phrase


def _hum(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Steady harmonic drone (fan, transformer, organ pipe)."""
    t = np.arange(n) / sr
    f0 = rng.uniform(180.0, 400.0)
    y = sum((0.6**k) * np.sin(2 * np.pi * (k + 1) * f0 * t + rng.uniform(0, 6)) for k in range(6))
    return y + 0.05 * _pink_noise(n, rng)


_SOURCES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "engine": _engine,
    "noise": _noise,
    "bursts": _bursts,
    "chirps": _chirps,
    "speech": _speech,
    "hum": _hum,
}


def make_source(kind: SourceKind, duration_s: float, *, sr: int, seed: int = 0) -> np.ndarray:
    """Synthesise a mono source signal, normalised to unit RMS over its active parts.

    Parameters
    ----------
    kind : {"engine", "noise", "bursts", "chirps", "speech", "hum"}
        ``engine``: harmonic tone (70–160 Hz) with noise, like a motor; ``noise``: steady pink
        noise (wind, rain, a jet); ``bursts``: knocks/footsteps; ``chirps``: bird-like sweeps;
        ``speech``: formant-filtered buzz with syllables; ``hum``: steady harmonic drone.
    duration_s : float
        Length in seconds.
    sr : int
        Sample rate in Hz.
    seed : int
        Random seed.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    if kind not in _SOURCES:
        raise ParameterError(f"unknown source kind {kind!r}; choose from {', '.join(_SOURCES)}")
    n = int(round(duration_s * sr))
    if n <= 0:
        raise ParameterError("duration_s must be positive")
    return _unit_rms(_SOURCES[kind](n, sr, np.random.default_rng(seed)))


def _unit_rms(y: np.ndarray) -> np.ndarray:
    """``y`` scaled to unit RMS over its active parts (pauses do not count)."""
    active = np.abs(y) > 1e-3 * (np.max(np.abs(y)) + 1e-12)
    rms = math.sqrt(float(np.mean(y[active] ** 2))) if active.any() else 1.0
    return y / (rms + 1e-12)


def fit_signal(signal: np.ndarray, signal_sr: int, n: int, sr: int) -> np.ndarray:
    """A recorded mono signal at ``sr``, looped or cut to ``n`` samples, unit RMS where active.

    Parameters
    ----------
    signal : np.ndarray [shape=(samples,)]
        The recording (mono).
    signal_sr : int
        Its sample rate.
    n : int
        Samples wanted.
    sr : int
        Sample rate wanted.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    import soxr

    y = np.asarray(signal, dtype=np.float64).ravel()
    if y.size == 0 or not np.all(np.isfinite(y)) or not np.any(y):
        raise ParameterError("a recorded source signal must be finite, non-empty and not silent")
    if signal_sr != sr:
        y = soxr.resample(y, signal_sr, sr)
    return _unit_rms(np.tile(y, -(-n // y.size))[:n])


# --------------------------------------------------------------------------- rendering
def _delayed(src: np.ndarray, delay_samples: np.ndarray) -> np.ndarray:
    """Read ``src`` through a variable delay line (linear interpolation; silence before 0)."""
    idx = np.arange(src.size) - delay_samples
    return np.interp(idx, np.arange(src.size), src, left=0.0, right=0.0)


def _woodworth_itd_s(azimuth_rad: np.ndarray) -> np.ndarray:
    """Spherical-head ITD for a far source (positive = left ear leads)."""
    th = np.clip(azimuth_rad, -np.pi / 2, np.pi / 2)
    # beyond 90° (behind) the front/back-mirrored value applies
    th = np.where(np.abs(azimuth_rad) > np.pi / 2, np.sign(azimuth_rad) * np.pi - azimuth_rad, th)
    return HEAD_RADIUS_M / SPEED_OF_SOUND * (th + np.sin(th))


#: Frame length and hop of the time-varying filters (50 % overlapping Hann frames).
_OLA_WIN, _OLA_HOP = 1024, 512


def _time_varying_filter(
    sig: np.ndarray, taps: int, response: Callable[[np.ndarray, int], np.ndarray]
) -> np.ndarray:
    """Filter ``sig`` with a response that changes from frame to frame (overlap-add).

    ``response(centres, n_fft)`` gets the sample index at the centre of each frame and the FFT
    size, and returns the complex frequency response on the ``n_fft // 2 + 1`` rfft bins,
    shape ``(frames, channels, bins)``; ``taps`` is the length of its impulse response, which
    sets the FFT size so the convolution does not wrap. Returns ``(channels, n)``.
    """
    n_win, hop = _OLA_WIN, _OLA_HOP
    n_fft = 1 << int(np.ceil(np.log2(n_win + taps)))
    pad = np.concatenate([np.zeros(hop), sig, np.zeros(n_win)])
    n_frames = (pad.size - n_win) // hop + 1
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_win)[::hop][:n_frames]
    spec = np.fft.rfft(frames * np.hanning(n_win + 1)[:-1], n=n_fft, axis=1)
    centres = np.clip(np.arange(n_frames) * hop + n_win // 2 - hop, 0, sig.size - 1)
    h = response(centres, n_fft)
    blocks = np.fft.irfft(spec[:, None, :] * h, n=n_fft, axis=-1)
    out = np.zeros((h.shape[1], pad.size + n_fft))
    for i in range(n_frames):  # overlap-add; n_frames is small (hop = 512)
        out[:, i * hop : i * hop + n_fft] += blocks[i]
    return out[:, hop : hop + sig.size]


def _head_shadow(sig: np.ndarray, incidence_rad: np.ndarray, sr: int) -> np.ndarray:
    """Brown–Duda (1998) head-shadow filter with a time-varying incidence angle.

    ``incidence_rad`` is the angle between the source direction and the ear's axis
    (0 = facing the ear).
    """
    alpha_min, theta_min = 0.1, np.radians(150.0)
    w0 = SPEED_OF_SOUND / HEAD_RADIUS_M

    def response(centres: np.ndarray, n_fft: int) -> np.ndarray:
        theta = incidence_rad[centres]
        alpha = (1 + alpha_min / 2) + (1 - alpha_min / 2) * np.cos(theta / theta_min * np.pi)
        w = 2 * np.pi * np.fft.rfftfreq(n_fft, 1.0 / sr)
        h = (1 + 1j * alpha[:, None] * w[None, :] / (2 * w0)) / (1 + 1j * w[None, :] / (2 * w0))
        return h[:, None, :]

    return _time_varying_filter(sig, _OLA_WIN, response)[0]


def _render_hrtf(sig: np.ndarray, azimuth_deg: np.ndarray, hrtf: HRTFSet) -> np.ndarray:
    """A mono signal through the measured HRIR nearest each frame's azimuth: ``(2, n)``.

    KEMAR is measured every 5°: switching between neighbours frame by frame adds no level or
    time error worth the cost of interpolating responses.
    """

    def response(centres: np.ndarray, n_fft: int) -> np.ndarray:
        filters = np.fft.rfft(hrtf.hrir, n=n_fft, axis=-1)  # (directions, 2, bins)
        return filters[hrtf.nearest(azimuth_deg[centres])]

    return _time_varying_filter(sig, hrtf.hrir.shape[-1], response)


def render_source(
    src: np.ndarray,
    trajectory: Trajectory,
    *,
    mic: MicModel,
    sr: int,
    hrtf: HRTFSet | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one mono source along a trajectory through a microphone model.

    Parameters
    ----------
    src : np.ndarray [shape=(n,)]
        Source signal as emitted.
    trajectory : Trajectory
        Where the source is over time.
    mic : {"head", "spaced", "coincident", "panned", "ortf", "hrtf"}
        Microphone model (see module docstring); ``"hrtf"`` uses ``hrtf``.
    sr : int
        Sample rate in Hz.
    hrtf : HRTFSet or None
        Measured head-related impulse responses for ``mic="hrtf"``.

    Returns
    -------
    direct : np.ndarray [shape=(2, n)]
        Left and right channels of the direct sound.
    emitted_at_listener : np.ndarray [shape=(n,)]
        The source delayed by its distance, without attenuation: what a diffuse reverberant
        field is excited by.
    """
    n = src.size
    t = np.arange(n) / sr
    x, y = trajectory.position(t)
    r = np.maximum(np.hypot(x, y), 0.3)
    az = np.arctan2(x, y)
    base_delay = r / SPEED_OF_SOUND * sr
    gain = 1.0 / r
    if mic == "spaced":
        half = SPACED_PAIR_M / 2
        r_l = np.maximum(np.hypot(x - half, y), 0.3)
        r_r = np.maximum(np.hypot(x + half, y), 0.3)
        left = _delayed(src, r_l / SPEED_OF_SOUND * sr) / r_l
        right = _delayed(src, r_r / SPEED_OF_SOUND * sr) / r_r
    elif mic == "ortf":
        half = ORTF_SPACING_M / 2
        aim = np.radians(ORTF_ANGLE_DEG)
        r_l = np.maximum(np.hypot(x - half, y), 0.3)
        r_r = np.maximum(np.hypot(x + half, y), 0.3)
        g_l = 0.5 * (1 + np.cos(az - aim))
        g_r = 0.5 * (1 + np.cos(az + aim))
        left = _delayed(src, r_l / SPEED_OF_SOUND * sr) / r_l * g_l
        right = _delayed(src, r_r / SPEED_OF_SOUND * sr) / r_r * g_r
    elif mic == "head":
        itd = _woodworth_itd_s(az) * sr
        left = _delayed(src, base_delay - itd / 2) * gain
        right = _delayed(src, base_delay + itd / 2) * gain
        left = _head_shadow(left, np.abs(np.pi / 2 - az), sr)
        right = _head_shadow(right, np.abs(np.pi / 2 + az), sr)
    elif mic == "hrtf":
        if hrtf is None or hrtf.sr != sr:
            raise ParameterError("mic='hrtf' needs an HRTF set at the scene's sample rate")
        left, right = _render_hrtf(_delayed(src, base_delay) * gain, np.degrees(az), hrtf)
    elif mic in ("coincident", "panned"):
        s = _delayed(src, base_delay) * gain
        if mic == "coincident":
            g_l = 0.5 * (1 + np.cos(az - np.pi / 4))
            g_r = 0.5 * (1 + np.cos(az + np.pi / 4))
        else:
            p = np.clip(np.degrees(az) / 90.0, -1.0, 1.0)
            g_l = np.cos((1 - p) * np.pi / 4)
            g_r = np.sin((1 - p) * np.pi / 4)
        left, right = s * g_l, s * g_r
    else:
        raise ParameterError(f"unknown microphone model {mic!r}; choose from {MIC_MODELS}")
    return np.stack([left, right]), _delayed(src, base_delay)


#: Inter-channel coherence of the diffuse reverberant field for each microphone model.
_REVERB_COHERENCE = {
    "head": 0.3,
    "spaced": 0.1,
    "coincident": 0.8,
    "panned": 0.4,
    "ortf": 0.3,
    "hrtf": 0.3,
}


def _reverb_tails(
    excitation: np.ndarray, *, mic: MicModel, sr: int, rt60_s: float, rng: np.random.Generator
) -> np.ndarray:
    n_ir = int(min(rt60_s * 1.2, 3.0) * sr)
    t = np.arange(n_ir) / sr
    env = np.exp(-6.9078 * t / rt60_s) * (t > 0.008)  # -60 dB at rt60, 8 ms pre-delay
    a, b = rng.standard_normal(n_ir), rng.standard_normal(n_ir)
    rho = _REVERB_COHERENCE[mic]
    ir = np.stack([a, rho * a + math.sqrt(1 - rho**2) * b]) * env
    ir /= np.sqrt(np.sum(ir**2, axis=1, keepdims=True))  # equal energy: no false ILD
    return sps.oaconvolve(excitation[None, :], ir, axes=1)[:, : excitation.size]


class SourceTruth(BaseModel):
    """Ground truth of one source, sampled on the scene's truth time axis."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="What the source is meant to depict (e.g. 'car').")
    kind: str = Field(description="Synthesiser used for the signal.")
    motion: Literal["static", "left_to_right", "right_to_left", "approaching", "receding"]
    azimuth_deg: list[float] = Field(description="Azimuth per truth time, + = left.")
    distance_m: list[float] = Field(description="Distance per truth time, m.")
    level_db: list[float] = Field(description="Direct-sound level at the listener, dB re 1 m.")
    doppler_ratio: list[float] = Field(description="Received / emitted frequency per time.")
    start_s: float = Field(0.0, description="When the source starts to sound, s.")


class SceneTruth(BaseModel):
    """Ground truth of a rendered scene."""

    model_config = ConfigDict(frozen=True)

    schema_id: Literal["spa2v.scene/1"] = Field("spa2v.scene/1", alias="schema")
    sr: int
    duration_s: float
    mic: str
    rt60_s: float | None = Field(description="Reverberation time, None when dry.")
    drr_db: float | None = Field(description="Direct-to-reverberant ratio, None when dry.")
    snr_db: float | None = Field(description="Scene-to-noise ratio, None when noise-free.")
    seed: int
    times_s: list[float] = Field(description="Times at which the truth is sampled, s.")
    sources: list[SourceTruth]


@dataclass(frozen=True)
class SceneSource:
    """One source of a scene: what it is, how it sounds, where it goes.

    ``level_db`` is its level at 1 m relative to the others; ``start_s`` is when it starts to
    sound (silent before, with a 20 ms fade-in).
    """

    label: str
    kind: SourceKind
    trajectory: Trajectory
    level_db: float = 0.0
    #: A recorded mono signal to use instead of synthesising ``kind`` (looped or cut to the
    #: scene's length), and its sample rate (None = the scene's).
    signal: np.ndarray | None = field(default=None, repr=False, compare=False)
    signal_sr: int | None = None
    start_s: float = 0.0


@dataclass(frozen=True)
class Scene:
    """A rendered scene: stereo audio plus ground truth."""

    audio: np.ndarray
    sr: int
    truth: SceneTruth

    def save(self, path: str | Path, *, truth_path: str | Path | None = None) -> Path:
        """Write the audio as 16-bit PCM WAV (and the truth as JSON), atomically."""
        from scipy.io import wavfile

        from spa2v.media.files import atomic_path, atomic_write_text

        pcm = np.clip(np.round(self.audio.T * 32767.0), -32768, 32767).astype(np.int16)
        with atomic_path(path) as tmp:
            wavfile.write(tmp, self.sr, pcm)
        if truth_path is not None:
            atomic_write_text(truth_path, self.truth.model_dump_json(by_alias=True, indent=1))
        return Path(path)


def _motion_of(traj: Trajectory, duration_s: float) -> str:
    t = np.array([0.0, duration_s])
    az = traj.azimuth_deg(t)
    d = traj.distance_m(t)
    across = motion_of(float(az[0]), float(az[1]))
    if across != "static":
        return across
    depth = depth_trend(float(d[0]), float(d[1]))
    return "static" if depth == "steady" else depth


def _scene_truth(
    sources: list[SceneSource], *, duration_s: float, mic: str, sr: int, rt60_s: float | None,
    drr_db: float, snr_db: float | None, seed: int, truth_hop_s: float,
) -> SceneTruth:  # fmt: skip
    """The ground truth of a scene: each source's trajectory sampled every ``truth_hop_s``."""
    times = np.arange(0.0, duration_s + 1e-9, truth_hop_s)
    truths = []
    for s in sources:
        r = s.trajectory.distance_m(times)
        dr = np.gradient(r, times) if times.size > 1 else np.zeros_like(r)
        truths.append(
            SourceTruth(
                label=s.label,
                kind=s.kind,
                motion=_motion_of(s.trajectory, duration_s),  # type: ignore[arg-type]
                azimuth_deg=np.round(s.trajectory.azimuth_deg(times), 3).tolist(),
                distance_m=np.round(r, 4).tolist(),
                level_db=np.round(s.level_db - 20 * np.log10(np.maximum(r, 0.3)), 3).tolist(),
                doppler_ratio=np.round(SPEED_OF_SOUND / (SPEED_OF_SOUND + dr), 6).tolist(),
                start_s=round(max(0.0, s.start_s), 4),
            )
        )
    truth = SceneTruth(
        sr=sr,
        duration_s=duration_s,
        mic=mic,
        rt60_s=rt60_s,
        drr_db=drr_db if rt60_s is not None else None,
        snr_db=snr_db,
        seed=seed,
        times_s=np.round(times, 6).tolist(),
        sources=truths,
    )
    return truth


def render_scene(
    sources: list[SceneSource],
    *,
    duration_s: float,
    mic: MicModel = "head",
    sr: int = 48_000,
    rt60_s: float | None = None,
    drr_db: float = 3.0,
    snr_db: float | None = None,
    seed: int = 0,
    truth_hop_s: float = 0.02,
    peak_dbfs: float | None = -3.0,
    hrtf: HRTFSet | None = None,
) -> Scene:
    """Render sources along their trajectories into a stereo recording with ground truth.

    Parameters
    ----------
    sources : list of SceneSource
        The sources.
    duration_s : float
        Length of the recording in seconds.
    mic : {"head", "spaced", "coincident", "panned", "ortf", "hrtf"}
        Microphone model.
    sr : int
        Sample rate in Hz.
    rt60_s : float or None
        Reverberation time of a diffuse tail; None for a dry (free-field) scene.
    drr_db : float
        Direct-to-reverberant power ratio of the whole scene when ``rt60_s`` is set. The
        reverberant field does not fall off with distance, so a source that approaches
        becomes "drier" over time, as in a real room.
    snr_db : float or None
        Ratio of scene power to diffuse pink noise power; None for no noise.
    seed : int
        Seed for every random choice (source signals, reverberation, noise).
    truth_hop_s : float
        Spacing of the ground-truth samples.
    peak_dbfs : float or None
        Peak level of the output; None leaves the mix unscaled.
    hrtf : HRTFSet or None
        Measured responses for ``mic="hrtf"`` (see :func:`spa2v.audio.hrtf.load_sofa`).

    Returns
    -------
    Scene
        ``audio`` has shape ``(2, n)``, float32, left channel first.
    """
    sr = check_sample_rate(sr)
    if not sources:
        raise ParameterError("a scene needs at least one source")
    if mic not in (*MIC_MODELS, *EXTRA_MIC_MODELS) and not (mic == "hrtf" and hrtf is not None):
        choices = ", ".join((*MIC_MODELS, *EXTRA_MIC_MODELS, "hrtf"))
        raise ParameterError(f"unknown microphone model {mic!r}; choose from {choices}")
    if not (0.05 <= duration_s <= 3600):
        raise ParameterError("duration_s must be within 0.05 s … 1 h")
    if rt60_s is not None and not (0.05 <= rt60_s <= 10):
        raise ParameterError("rt60_s must be within 0.05 … 10 s")
    for name, value in (("drr_db", drr_db), ("snr_db", snr_db)):
        if value is not None and not (math.isfinite(value) and -60 <= value <= 120):
            raise ParameterError(f"{name} must be a number within -60 … 120 dB, got {value}")
    if not 0 <= seed <= 2**32 - 1:
        raise ParameterError(f"seed must be within 0 … 2**32 - 1, got {seed}")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    mix = np.zeros((2, n))
    excitation = np.zeros(n)
    for i, s in enumerate(sources):
        if s.signal is None:
            sig = make_source(s.kind, duration_s, sr=sr, seed=seed * 1000 + i)
        else:
            sig = fit_signal(s.signal, s.signal_sr or sr, n, sr)
        sig *= 10 ** (s.level_db / 20)
        if s.start_s > 0:  # silent until it starts, then a short fade-in
            k0 = min(n, int(round(s.start_s * sr)))
            sig[:k0] = 0.0
            ramp = min(n - k0, int(0.02 * sr))
            sig[k0 : k0 + ramp] *= np.linspace(0.0, 1.0, ramp, endpoint=False)
        direct, emitted = render_source(sig, s.trajectory, mic=mic, sr=sr, hrtf=hrtf)
        mix += direct
        excitation += emitted
    if rt60_s is not None:
        tails = _reverb_tails(excitation, mic=mic, sr=sr, rt60_s=rt60_s, rng=rng)
        scale = math.sqrt(float(np.mean(mix**2)) / max(float(np.mean(tails**2)), 1e-30))
        mix += tails * scale * 10 ** (-drr_db / 20)
    if snr_db is not None:
        p_sig = float(np.mean(mix**2))
        noise = np.stack([_pink_noise(n, rng), _pink_noise(n, rng)])
        mix += noise * math.sqrt(p_sig / 10 ** (snr_db / 10))
    if peak_dbfs is None:
        audio = mix.astype(np.float32)
    else:
        peak = float(np.max(np.abs(mix))) or 1.0
        audio = (mix * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)

    truth = _scene_truth(sources, duration_s=duration_s, mic=mic, sr=sr, rt60_s=rt60_s,
                         drr_db=drr_db, snr_db=snr_db, seed=seed,
                         truth_hop_s=truth_hop_s)  # fmt: skip
    return Scene(audio=audio, sr=sr, truth=truth)


# --------------------------------------------------------------------------- long scenes
#: Scenes up to this long are rendered whole (:func:`render_scene`); longer ones in segments.
WHOLE_SCENE_MAX_S = 60.0
#: Length of a segment of a long scene, s.
SEGMENT_S = 8.0
#: Each segment starts this much earlier, so that its propagation delays and reverberation
#: (impulse responses of at most 3 s) are built up where it takes over, s.
SEGMENT_WARMUP_S = 3.5
#: Consecutive segments are cross-faded (equal power) over this long, s.
SEGMENT_FADE_S = 0.5


def _segment_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _shifted(source: SceneSource, t0: float) -> SceneSource:
    """``source`` as seen from time ``t0`` on (its trajectory and recording move with it)."""
    traj = source.trajectory
    moved = Trajectory(traj.times_s - t0, traj.x_m, traj.y_m)
    signal = source.signal
    if signal is not None and signal.size:
        rate = source.signal_sr or 1
        signal = np.roll(np.asarray(signal), -int(t0 * rate) % signal.size)
    return replace(source, trajectory=moved, signal=signal, start_s=source.start_s - t0)


def write_scene(
    path: str | Path,
    sources: list[SceneSource],
    *,
    duration_s: float,
    truth_path: str | Path | None = None,
    mic: MicModel = "head",
    sr: int = 48_000,
    rt60_s: float | None = None,
    drr_db: float = 3.0,
    snr_db: float | None = None,
    seed: int = 0,
    peak_dbfs: float = -3.0,
    hrtf: HRTFSet | None = None,
) -> SceneTruth:
    """Render a scene straight to a 16-bit WAV file, with memory that does not grow with length.

    A scene up to :data:`WHOLE_SCENE_MAX_S` is rendered whole, exactly as
    :func:`render_scene` then :meth:`Scene.save` do. A longer one is rendered in segments of
    :data:`SEGMENT_S` seconds, each started :data:`SEGMENT_WARMUP_S` early and cross-faded
    into the one before; the unscaled mix goes to a temporary file and is scaled to
    ``peak_dbfs`` in a second, cheap pass. Trajectories, hence the ground truth, are those of
    the whole scene; the source signals, reverberation and noise of each segment are drawn
    afresh (from ``seed`` and the segment number), and the direct-to-reverberant and
    signal-to-noise ratios hold per segment.

    Parameters
    ----------
    path : str or Path
        WAV file to write (atomically).
    sources, duration_s, mic, sr, rt60_s, drr_db, snr_db, seed, peak_dbfs, hrtf
        As for :func:`render_scene`.
    truth_path : str or Path or None
        Also write the ground truth here (JSON).

    Returns
    -------
    SceneTruth
    """
    import tempfile
    import wave

    from spa2v.media.files import atomic_path, atomic_write_text

    options = {"mic": mic, "sr": sr, "rt60_s": rt60_s, "drr_db": drr_db, "snr_db": snr_db,
               "hrtf": hrtf}  # fmt: skip
    if duration_s <= WHOLE_SCENE_MAX_S:
        scene = render_scene(sources, duration_s=duration_s, seed=seed, peak_dbfs=peak_dbfs,
                             **options)  # fmt: skip
        scene.save(path, truth_path=truth_path)
        return scene.truth
    if not duration_s <= 3600:
        raise ParameterError("duration_s must be within 0.05 s … 1 h")
    # a moment of the scene checks every other option before the long work
    truth = render_scene(sources, duration_s=0.05, seed=seed, **options).truth
    truth = _scene_truth(sources, duration_s=duration_s, mic=mic, sr=truth.sr, rt60_s=rt60_s,
                         drr_db=drr_db, snr_db=snr_db, seed=seed, truth_hop_s=0.02)  # fmt: skip
    sr = truth.sr
    n_total = int(round(duration_s * sr))
    seg, warm, fade = (int(round(x * sr)) for x in (SEGMENT_S, SEGMENT_WARMUP_S, SEGMENT_FADE_S))
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade)
    peak = 0.0
    with tempfile.TemporaryFile() as raw:
        held = np.zeros((2, 0), np.float32)  # the previous segment's last fade samples

        def put(block: np.ndarray) -> None:
            nonlocal peak
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
                raw.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())

        for k, a in enumerate(range(0, n_total, seg)):
            b = min(n_total, a + seg)
            start = max(0, a - warm)
            part = render_scene(
                [_shifted(src, start / sr) for src in sources],
                duration_s=(b - start) / sr, seed=_segment_seed(seed, k), peak_dbfs=None,
                **options,
            ).audio  # fmt: skip
            at = a - start  # where this segment takes over
            if held.shape[1]:
                put(held * ramp[::-1] + part[:, at - fade : at] * ramp)
            last = b == n_total
            put(part[:, at : part.shape[1] if last else part.shape[1] - fade])
            held = part[:, part.shape[1] - fade :] if not last else held[:, :0]
        raw.seek(0)
        gain = 10 ** (peak_dbfs / 20) / (peak or 1.0)
        with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(sr)
            while chunk := raw.read(2 * 4 * sr):  # one second of float32 stereo
                y = np.frombuffer(chunk, np.float32) * gain
                pcm = np.clip(np.round(y * 32767.0), -32768, 32767).astype("<i2")
                out.writeframes(pcm.tobytes())
    if truth_path is not None:
        atomic_write_text(truth_path, truth.model_dump_json(by_alias=True, indent=1))
    return truth


# --------------------------------------------------------------------------- presets
def _preset_sources(name: str, duration_s: float) -> list[SceneSource]:
    d = duration_s
    presets: dict[str, Callable[[], list[SceneSource]]] = {
        "static-left": lambda: [SceneSource("cow", "speech", Trajectory.static(55.0, 4.0))],
        "static-centre": lambda: [SceneSource("person", "speech", Trajectory.static(0.0, 3.0))],
        "static-right": lambda: [SceneSource("dog", "bursts", Trajectory.static(-55.0, 4.0))],
        "left-to-right": lambda: [
            SceneSource("helicopter", "engine", Trajectory.sweep(d, 70.0, -70.0, 20.0))
        ],
        "right-to-left": lambda: [
            SceneSource("car", "engine", Trajectory.sweep(d, -70.0, 70.0, 10.0))
        ],
        "approach": lambda: [SceneSource("truck", "engine", Trajectory.sweep(d, 10.0, 5.0, 40, 6))],
        "recede": lambda: [SceneSource("truck", "engine", Trajectory.sweep(d, -10.0, -5.0, 6, 40))],
        "passby": lambda: [
            SceneSource(
                "car",
                "engine",
                Trajectory.line(d, speed_mps=15.0, closest_m=6.0, t_closest_s=d / 2),
            )
        ],
        "duet": lambda: [
            SceneSource("cow", "speech", Trajectory.static(60.0, 5.0), level_db=3.0),
            SceneSource("helicopter", "engine", Trajectory.sweep(d, 40.0, -70.0, 25.0)),
        ],
    }
    if name not in presets:
        raise ParameterError(f"unknown preset {name!r}; choose from {', '.join(presets)}")
    return presets[name]()


PRESETS = (
    "static-left",
    "static-centre",
    "static-right",
    "left-to-right",
    "right-to-left",
    "approach",
    "recede",
    "passby",
    "duet",
)


def render_preset(
    name: str,
    *,
    duration_s: float = 6.0,
    mic: MicModel = "head",
    sr: int = 48_000,
    rt60_s: float | None = None,
    drr_db: float = 3.0,
    snr_db: float | None = None,
    seed: int = 0,
    hrtf: HRTFSet | None = None,
) -> Scene:
    """Render one of the named demo scenes (see :data:`PRESETS`).

    Parameters
    ----------
    name : str
        ``static-left``, ``static-centre``, ``static-right``, ``left-to-right``,
        ``right-to-left``, ``approach``, ``recede``, ``passby`` or ``duet`` (a cow on the left
        while a helicopter crosses to the right).
    duration_s, mic, sr, rt60_s, drr_db, snr_db, seed, hrtf
        As for :func:`render_scene`.

    Returns
    -------
    Scene
    """
    return render_scene(
        _preset_sources(name, duration_s),
        duration_s=duration_s,
        mic=mic,
        sr=sr,
        rt60_s=rt60_s,
        drr_db=drr_db,
        snr_db=snr_db,
        seed=seed,
        hrtf=hrtf,
    )


def write_preset(path: str | Path, name: str, *, duration_s: float = 6.0,
                 truth_path: str | Path | None = None, **options: Any) -> SceneTruth:  # fmt: skip
    """Write one of the named demo scenes to a WAV file (see :func:`write_scene`).

    Parameters
    ----------
    path : str or Path
        WAV file to write.
    name : str
        A preset of :data:`PRESETS`.
    duration_s : float
        Length in seconds (up to an hour; memory stays flat).
    truth_path : str or Path or None
        Also write the ground truth here.
    **options
        ``mic``, ``sr``, ``rt60_s``, ``drr_db``, ``snr_db``, ``seed``, ``hrtf`` as for
        :func:`render_scene`.

    Returns
    -------
    SceneTruth
    """
    return write_scene(path, _preset_sources(name, duration_s), duration_s=duration_s,
                       truth_path=truth_path, **options)  # fmt: skip

"""The cue sheet: measured spatial and temporal cues of a stereo recording.

:func:`compute_cues` analyses an in-memory signal; :func:`analyze_file` streams a file of any
length with bounded memory. Both produce a :class:`CueSheet`, the data contract between audio
analysis and planning. Its JSON Schema is generated from the model
(``CueSheet.model_json_schema()``).

Conventions: times in seconds from the start of the audio; left/right quantities are positive
towards the listener's **left** (see :mod:`spa2v.audio.spatial`).
"""

from __future__ import annotations

import math
import warnings as _pywarnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from spa2v.audio import loudness as _loud
from spa2v.audio import onsets as _onsets
from spa2v.audio import sources as _sources
from spa2v.audio import spatial as _spatial
from spa2v.audio.filters import fft_for, uniform_filter1d
from spa2v.audio.load import (
    MIN_DURATION_S,
    MonoAudioWarning,
    check_sample_rate,
    open_audio,
    validate_audio,
)
from spa2v.audio.pitch import PitchTracker, doppler_ratio, pitch_slope
from spa2v.audio.spectral import SpectralGrid
from spa2v.config import AnalysisSettings, RunConfig
from spa2v.errors import EmptyAudioError, ParameterError, SilentAudioError

SCHEMA_ID = "spa2v.cues/1"
#: Frames processed per STFT batch; bounds memory for any input length.
_BATCH_FRAMES = 256
#: Sources are only separated by time differences when at least LF_GATE_SHARE of the
#: active power lies below LF_GATE_HZ (where phases do not wrap within the delay range).
LF_GATE_HZ = 1500.0
#: Channels count as identical when their difference holds at most this share of their energy
#: (-80 dB: only a copy, or a copy through lossy coding, comes this close).
IDENTICAL_CHANNELS_RATIO = 1e-8
LF_GATE_SHARE = 0.03


def _as_array(value: Any, ndim: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        arr = arr.reshape((0,) * ndim) if ndim == 1 else arr.reshape(0, 0)
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("contains NaN or infinite values")
    return arr


def _to_list(arr: np.ndarray) -> list[Any]:
    return np.round(arr.astype(np.float64), 5).tolist()


Array1D = Annotated[
    np.ndarray,
    BeforeValidator(lambda v: _as_array(v, 1)),
    PlainSerializer(_to_list, when_used="json"),
    WithJsonSchema({"type": "array", "items": {"type": "number"}}),
]
Array2D = Annotated[
    np.ndarray,
    BeforeValidator(lambda v: _as_array(v, 2)),
    PlainSerializer(_to_list, when_used="json"),
    WithJsonSchema({"type": "array", "items": {"type": "array", "items": {"type": "number"}}}),
]
Side = Literal["left", "centre", "right"]
Motion = Literal["left_to_right", "right_to_left", "static"]


class FrameCues(BaseModel):
    """Cues per analysis frame; every array has one value per frame."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    time_s: Array1D = Field(description="Frame centre time in seconds.")
    activity: Array1D = Field(
        description="How clearly the frame stands above the noise floor, 0 (noise) … 1."
    )
    itd_ms: Array1D = Field(
        description="Interaural time difference in ms by GCC-PHAT; positive = left leads."
    )
    itd_confidence: Array1D = Field(description="Reliability of itd_ms, 0 … 1.")
    ild_db: Array1D = Field(
        description="Broadband interaural level difference in dB; positive = left louder."
    )
    ild_bands_db: Array2D = Field(
        description="ILD per band in dB, shape (frames, bands); bands in band_edges_hz."
    )
    ild_confidence: Array1D = Field(description="Reliability of the level difference, 0 … 1.")
    azimuth_deg: Array1D = Field(
        description="Fused azimuth in degrees: +90 hard left, 0 ahead, -90 hard right."
    )
    azimuth_confidence: Array1D = Field(description="Reliability of azimuth_deg, 0 … 1.")
    itd_share: Array1D = Field(
        description="Share of the time difference in the fused azimuth (1 = ITD only)."
    )
    loudness_lufs: Array1D = Field(
        description="Momentary loudness (BS.1770 K-weighting, 0.4 s window) in LUFS."
    )
    loudness_slope_db_per_s: Array1D = Field(
        description="Slope of loudness over a 1 s window in dB/s; positive = getting louder."
    )
    centroid_hz: Array1D = Field(description="Spectral centroid in Hz.")
    f0_hz: Array1D = Field(description="Fundamental frequency in Hz; 0 where not voiced.")
    voicing: Array1D = Field(description="Periodicity of the frame, 0 (noise) … 1 (periodic).")
    pitch_ratio: Array1D = Field(
        description="f0 relative to the median voiced f0 (Doppler ratio); 1 where not voiced."
    )
    pitch_slope_st_per_s: Array1D = Field(
        description="Rate of pitch change in semitones per second; negative = falling."
    )
    onset_strength: Array1D = Field(description="Normalised spectral-flux novelty, 0 … 1.")

    @model_validator(mode="after")
    def _same_length(self) -> FrameCues:
        n = self.time_s.shape[0]
        for name in type(self).model_fields:
            arr = getattr(self, name)
            if arr.shape[0] != n:
                raise ValueError(f"{name} has {arr.shape[0]} frames, time_s has {n}")
        return self

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


class SecondCues(BaseModel):
    """Summary of one stretch of the recording (by default one second)."""

    model_config = ConfigDict(frozen=True)

    start_s: float = Field(description="Start of the stretch in seconds.")
    end_s: float = Field(description="End of the stretch in seconds.")
    azimuth_deg: float = Field(description="Confidence-weighted median azimuth, positive = left.")
    azimuth_confidence: float = Field(description="Mean azimuth confidence of active frames.")
    side: Side = Field(description="Side of azimuth_deg.")
    itd_ms: float = Field(description="Confidence-weighted median ITD in ms.")
    ild_db: float = Field(description="Confidence-weighted median broadband ILD in dB.")
    loudness_lufs: float = Field(description="Mean momentary loudness in LUFS.")
    loudness_slope_db_per_s: float = Field(description="Mean loudness slope in dB/s.")
    pitch_ratio: float = Field(description="Median Doppler ratio of voiced frames (1 if none).")
    voiced_fraction: float = Field(description="Fraction of voiced frames.")
    onsets: int = Field(description="Number of onsets in the stretch.")


class CueSummary(BaseModel):
    """Descriptors of the whole recording, read off the frame cues."""

    model_config = ConfigDict(frozen=True)

    side: Side = Field(description="Side of the median azimuth of active frames.")
    azimuth_deg: float = Field(description="Confidence-weighted median azimuth.")
    azimuth_start_deg: float = Field(description="Median azimuth over the first active fifth.")
    azimuth_end_deg: float = Field(description="Median azimuth over the last active fifth.")
    motion: Motion = Field(
        description="Direction of the azimuth change from start to end (threshold 20°)."
    )
    loudness_trend: Literal["rising", "falling", "steady"] = Field(
        description="Sign of loudness_change_db (±3 dB)."
    )
    loudness_change_db: float = Field(
        description="Typical (80th-percentile) loudness of the last third of the active frames "
        "minus the first, dB."
    )
    pitch_change_st: float = Field(
        description="Voiced pitch of last third minus first third, in semitones."
    )
    loudest_time_s: float = Field(description="Time of maximum loudness.")
    onset_rate_hz: float = Field(description="Onsets per second.")
    voiced_fraction: float = Field(description="Fraction of active frames that are voiced.")
    reference_f0_hz: float = Field(description="Median voiced f0 (0 when nothing is voiced).")


#: A source alone counts as heard where the loudness is within this range of its loudest.
SOLE_SOURCE_RANGE_DB = 35.0


class SourceCues(BaseModel):
    """One tracked source: where it is and how loud it is over time.

    With several sources the azimuth comes from the peaks of the pooled spatial spectrum
    (0.25 s resolution); with one source it is the fused per-frame azimuth.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    id: int = Field(ge=0, description="Source number, 0 = leftmost on average.")
    azimuth_deg: Array1D = Field(description="Azimuth per frame, + = left.")
    share: Array1D = Field(description="Share of the frame's directional energy, 0 … 1.")
    loudness_lufs: Array1D = Field(
        description="The source's part of the momentary loudness, LUFS (loudness + 10 log10 share)."
    )
    side: Side = Field(description="Side of the median azimuth.")
    azimuth_mean_deg: float = Field(description="Share-weighted median azimuth.")
    azimuth_start_deg: float = Field(description="Median azimuth over the first active fifth.")
    azimuth_end_deg: float = Field(description="Median azimuth over the last active fifth.")
    motion: Motion = Field(description="Direction of the azimuth change (threshold 20°).")
    loudness_change_db: float = Field(
        description="Typical (80th-percentile) loudness of the last third of the frames where "
        "the source sounds minus the first, dB."
    )
    loudest_time_s: float = Field(description="Time of the source's maximum loudness.")
    pitch_change_st: float = Field(
        description="Pitch change last vs first third over frames the source dominates, st."
    )
    active_fraction: float = Field(description="Fraction of frames where it is the main source.")
    heard: Array1D | None = Field(
        None,
        description="Per frame, 1 where the source was measured (a direction of its own in the "
        "spatial spectrum), else 0; absent in cue sheets of older versions.",
    )
    localised: bool = Field(
        True,
        description="False for a source placed only because a known number of sources asked "
        "for one more than the recording shows (a static direction, not measured).",
    )


class CueParams(BaseModel):
    """Analysis settings (all recorded in the cue sheet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hop_s: float = AnalysisSettings.model_fields["hop_s"]
    frame_s: float = Field(0.064, ge=0.008, le=1.0, description="Nominal frame length, s.")
    max_delay_ms: float = AnalysisSettings.model_fields["max_delay_ms"]
    itd_context_s: float = Field(
        0.5, ge=0.0, le=10.0, description="Temporal context that resolves ambiguous ITD peaks, s."
    )
    phat_beta: float = Field(
        _spatial.PHAT_BETA, ge=0.0, le=1.0, description="PHAT-β exponent (1 = classic PHAT)."
    )
    itd_average_s: float = Field(
        0.1, ge=0.0, le=2.0, description="Cross-spectra averaged over this span for the ITD, s."
    )
    azimuth_smooth_s: float = Field(
        0.1, ge=0.0, le=5.0, description="Confidence-weighted smoothing of ITD/ILD, s."
    )
    itd_ref_ms: float = Field(
        _spatial.ITD_REF_MS, gt=0.0, description="ITD mapped to 90° in the fusion, ms."
    )
    ild_ref_db: float = Field(
        _spatial.ILD_REF_DB, gt=0.0, description="Scale of the ILD→azimuth tanh mapping, dB."
    )
    fmin_hz: float = Field(60.0, gt=0.0, description="Lowest f0 searched, Hz.")
    fmax_hz: float = Field(1000.0, gt=0.0, description="Highest f0 searched, Hz.")
    voicing_threshold: float = Field(0.6, ge=0.0, le=1.0, description="Voiced if periodicity ≥.")
    side_threshold_deg: float = Field(
        _spatial.SIDE_THRESHOLD_DEG, ge=0.0, le=90.0, description="|az| for left/right."
    )
    summary_s: float = Field(1.0, gt=0.0, description="Length of the summary stretches, s.")
    max_sources: int = Field(3, ge=1, le=3, description="Most sources tracked.")
    n_sources: int | None = Field(
        None,
        ge=1,
        le=3,
        description="Number of sources when known (e.g. one per label); None counts them.",
    )

    @classmethod
    def of(cls, config: RunConfig) -> CueParams:
        """The analysis settings of a run: its ``analysis`` options and the number of
        sources its ``planning`` section vouches for."""
        a = config.analysis
        return cls(hop_s=a.hop_s, max_delay_ms=a.max_delay_ms,
                   n_sources=config.planning.known_sources)  # fmt: skip


class CueSheet(BaseModel):
    """Measured cues of one recording.

    Attributes
    ----------
    frames : FrameCues
        Per-frame cues (hop ``hop_s``).
    seconds : list of SecondCues
        Per-stretch summaries (``params.summary_s`` long).
    summary : CueSummary
        Whole-recording descriptors.
    onsets_s : list of float
        Onset times in seconds.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, populate_by_name=True)

    schema_id: Literal["spa2v.cues/1"] = Field(SCHEMA_ID, alias="schema")
    source: str | None = Field(None, description="File the cues were measured from.")
    sr: int = Field(description="Analysis sample rate, Hz.")
    duration_s: float = Field(ge=0.0, description="Duration of the audio, s.")
    channels: Literal[1, 2] = Field(description="Channels analysed.")
    spatial: bool = Field(description="False for mono input: no left/right information.")
    hop_s: float = Field(description="Actual hop between frames, s.")
    frame_s: float = Field(description="Actual frame length, s.")
    band_edges_hz: list[float] = Field(description="Edges of the ILD bands, Hz.")
    params: CueParams
    frames: FrameCues
    seconds: list[SecondCues]
    summary: CueSummary
    onsets_s: list[float] = Field(description="Onset times, s.")
    sources: list[SourceCues] = Field(
        default_factory=list, description="Tracked sources, left to right (at most 3)."
    )
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bands_match(self) -> CueSheet:
        bands = self.frames.ild_bands_db.shape
        if len(self.frames) and bands[1] != len(self.band_edges_hz) - 1:
            raise ValueError(
                f"ild_bands_db has {bands[1]} bands but band_edges_hz defines "
                f"{len(self.band_edges_hz) - 1}"
            )
        return self

    def to_json(self) -> str:
        """Serialise to JSON text (arrays as lists, rounded to 5 decimals)."""
        return self.model_dump_json(by_alias=True, indent=None)

    @classmethod
    def from_json(cls, text: str | bytes) -> CueSheet:
        """Parse JSON text written by :meth:`to_json`."""
        return cls.model_validate_json(text)

    def save(self, path: str | Path) -> Path:
        """Write the cue sheet as JSON, atomically."""
        from spa2v.media.files import atomic_write_text

        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> CueSheet:
        """Read a cue sheet written by :meth:`save`."""
        return cls.from_json(Path(path).read_bytes())


class _RawFrames:
    """Per-frame measurements accumulated batch by batch before post-processing."""

    names = (
        "band_l",
        "band_r",
        "k_power",
        "gcc",
        "level_hist",
        "delay_votes",
        "centroid",
        "f0",
        "periodicity",
        "flux",
    )

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in self.names}

    def add(self, **values: np.ndarray) -> None:
        for name, value in values.items():
            self.parts[name].append(value)

    def joined(self) -> dict[str, np.ndarray]:
        """Concatenate each measurement, releasing the per-batch pieces as it goes."""
        out = {}
        for name in self.names:
            pieces = self.parts.pop(name)
            out[name] = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return out


class CueExtractor:
    """Incremental cue analysis: push blocks of samples, then :meth:`finish`.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    channels : int
        1 (mono: spatial cues are zero with zero confidence) or 2.
    params : CueParams or None
        Analysis settings.
    duration_s : float or None
        Length of the recording when known: a long one is transformed with :mod:`scipy.fft`
        (faster over many frames, slower to import; see
        :func:`spa2v.audio.filters.fft_for`).
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        params: CueParams | None = None,
        *,
        duration_s: float | None = None,
    ) -> None:
        self.sr = check_sample_rate(sr)
        self.fft = fft_for(duration_s)
        if channels not in (1, 2):
            raise ParameterError(f"channels must be 1 or 2, got {channels}")
        self.channels = channels
        self.params = params or CueParams()
        if self.params.fmin_hz >= self.params.fmax_hz:
            raise ParameterError("fmin_hz must be below fmax_hz")
        self.grid = SpectralGrid(self.sr, hop_s=self.params.hop_s, frame_s=self.params.frame_s)
        g = self.grid
        self.pitch = PitchTracker(
            self.sr, g.n_fft, g.window, fmin_hz=self.params.fmin_hz, fmax_hz=self.params.fmax_hz
        )
        self.k_gain = _loud.k_weighting_power_gain(g.freqs_hz, self.sr) * g.bin_weight
        self._centroid_f = (g.freqs_hz * (g.freqs_hz >= 30.0)).astype(np.float32)
        self._buffer = np.zeros((channels, g.n_fft // 2), dtype=np.float32)
        self._frames_done = 0
        self._samples = 0
        #: energy of both channels and of their difference: a stereo file whose channels are
        #: the same (mono saved as stereo) has no left/right information either
        self._energy = 0.0
        self._difference = 0.0
        self._prev_flux_row: np.ndarray | None = None
        #: frames whose cross-spectra are averaged for the ITD
        self.average_frames = max(1, int(round(self.params.itd_average_s / g.hop * self.sr)))
        self._cross_tail: np.ndarray | None = None
        self._weight_tail = np.zeros(0, dtype=np.float32)
        #: lags per second of the GCC grid (set by the first batch)
        self.lag_sr = float(self.sr)
        self._raw = _RawFrames()
        # level-difference histogram: every bin from 150 Hz to 8 kHz, in groups of
        # LEVEL_GROUP_BINS adjacent bins (a tone's whole main lobe counts, wherever it falls)
        f = g.freqs_hz
        hist = np.flatnonzero((f >= 150.0) & (f <= min(8000.0, 0.45 * self.sr)))
        group = _sources.LEVEL_GROUP_BINS
        self._hist_bins = slice(int(hist[0]), int(hist[0]) + hist.size // group * group)
        self._hist_edges = _sources.level_histogram_edges(self.params.ild_ref_db)
        # delay histogram: the GCC band's bins up to 3 kHz (index into the cross-spectrum)
        lo, _ = _spatial.phat_bins(f.size, n_fft=g.n_fft, sr=self.sr)
        n_delay = max(1, int(np.sum((f >= f[lo]) & (f <= _sources.DELAY_HIST_MAX_HZ))))
        self._delay_votes = _sources.DelayVoter(
            f[lo : lo + n_delay], max_delay_s=self.params.max_delay_ms / 1000.0
        )

    @property
    def samples_seen(self) -> int:
        """Number of samples pushed so far."""
        return self._samples

    def push(self, block: np.ndarray) -> None:
        """Analyse every complete frame that ``block`` makes available."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ParameterError(
                f"expected a block of shape ({self.channels}, n), got {block.shape}"
            )
        self._samples += block.shape[1]
        if self.channels == 2:
            left, right = block[0].astype(np.float64), block[1].astype(np.float64)
            difference = left - right
            self._energy += float(left @ left + right @ right)
            self._difference += float(difference @ difference)
        self._buffer = np.concatenate([self._buffer, block], axis=1)
        self._drain()

    def _drain(self, limit: int | None = None) -> None:
        g = self.grid
        while True:
            available = (self._buffer.shape[1] - g.n_fft) // g.hop + 1
            if limit is not None:
                available = min(available, limit - self._frames_done)
            if available <= 0:
                return
            n = min(available, _BATCH_FRAMES)
            self._analyse(g.frames(self._buffer, n))
            self._frames_done += n
            self._buffer = self._buffer[:, n * g.hop :]

    def _analyse(self, frames: np.ndarray) -> None:
        g = self.grid
        spec = g.spectra(frames, fft=self.fft)
        squared = spec.real**2 + spec.imag**2
        k_power = squared @ self.k_gain
        power = squared * g.bin_weight
        bands = g.band_sums(power)
        mono_power = power.sum(axis=0)
        if self.channels == 2:
            corr, delay_votes = self._itd(spec)
            band_l, band_r = bands[0], bands[1]
            sel = self._hist_bins
            level_hist = _sources.level_histograms(
                squared[0][:, sel], squared[1][:, sel], self._hist_edges
            )
        else:
            corr = np.zeros((frames.shape[1], 1), dtype=np.float32)
            level_hist = np.zeros((frames.shape[1], 1), dtype=np.float32)
            delay_votes = level_hist
            band_l = band_r = bands[0]
        total = mono_power.sum(axis=1)
        centroid = (mono_power @ self._centroid_f) / np.maximum(total, 1e-30)
        f0, periodicity = self.pitch.track(mono_power, fft=self.fft)
        comp = _onsets.compress(bands.sum(axis=0))
        flux = _onsets.spectral_flux(comp, self._prev_flux_row)
        self._prev_flux_row = comp[-1]
        self._raw.add(
            band_l=band_l,
            band_r=band_r,
            k_power=k_power.sum(axis=0),
            gcc=corr,
            # histograms only need to rank directions: half precision halves their memory
            level_hist=level_hist.astype(np.float16),
            delay_votes=delay_votes.astype(np.float16),
            centroid=centroid.astype(np.float32),
            f0=f0,
            periodicity=periodicity,
            flux=flux,
        )

    def _itd(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GCC-PHAT of cross-spectra averaged over the last ``itd_average_s`` (causal).

        Returns the correlation over lags per frame, and the per-bin delay votes of the same
        averaged cross-spectra (for source tracking). Both are realigned to frame centres and
        used in :func:`_build_sheet`, where the temporal context is available.
        """
        g = self.grid
        cross, weight = _spatial.phat_cross_spectrum(
            spec[0], spec[1], n_fft=g.n_fft, sr=self.sr, beta=self.params.phat_beta
        )
        k = self.average_frames
        if k > 1:
            if self._cross_tail is None:
                self._cross_tail = np.zeros((k - 1, cross.shape[1]), dtype=cross.dtype)
                self._weight_tail = np.zeros(k - 1, dtype=weight.dtype)
            joined = np.concatenate([self._cross_tail, cross])
            joined_w = np.concatenate([self._weight_tail, weight])
            n = cross.shape[0]
            cross = joined[k - 1 :].copy()
            weight = joined_w[k - 1 :].copy()
            for i in range(k - 1):  # k is small: k shifted adds beat a complex cumsum
                cross += joined[i : i + n]
                weight += joined_w[i : i + n]
            self._cross_tail = joined[-(k - 1) :]
            self._weight_tail = joined_w[-(k - 1) :]
        # R conj(L) has the opposite phase sign to the ITD convention: negate the angle
        delay_votes = self._delay_votes(np.conj(cross[:, : self._delay_votes.n_bins]))
        corr, self.lag_sr = _spatial.gcc_phat_correlation(
            cross,
            weight,
            n_fft=g.n_fft,
            sr=self.sr,
            max_delay_s=self.params.max_delay_ms / 1000.0,
            fft=self.fft,
        )
        return corr, delay_votes

    def finish(self, *, source: str | None = None, warnings: list[str] | None = None) -> CueSheet:
        """Analyse the remaining frames and build the :class:`CueSheet`."""
        g = self.grid
        if self._samples < max(1, MIN_DURATION_S * self.sr):
            raise EmptyAudioError(
                f"audio is {self._samples / self.sr * 1000:.2f} ms long; at least "
                f"{MIN_DURATION_S * 1000:.0f} ms is needed"
            )
        n_total = (self._samples - 1) // g.hop + 1
        pad = np.zeros((self.channels, g.n_fft), dtype=np.float32)
        self._buffer = np.concatenate([self._buffer, pad], axis=1)
        self._drain(limit=n_total)
        notes = list(warnings or [])
        if self.channels == 2 and self._difference <= IDENTICAL_CHANNELS_RATIO * self._energy:
            note = (
                f"{source or 'the recording'}: its two channels are identical (mono saved as "
                "stereo): left/right cannot be known, every source is placed at the centre"
            )
            _pywarnings.warn(note, MonoAudioWarning, stacklevel=2)
            notes.append(note)
        return _build_sheet(self._raw.joined(), self, source=source, warnings=notes)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if values.size == 0 or float(weights.sum()) <= 0:
        return float(np.median(values)) if values.size else 0.0
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _build_sheet(
    raw: dict[str, np.ndarray], ex: CueExtractor, *, source: str | None, warnings: list[str]
) -> CueSheet:
    g, p, sr = ex.grid, ex.params, ex.sr
    hop_s = g.hop / sr
    n = raw["f0"].size
    times = (np.arange(n) * hop_s).astype(np.float32)
    band_l, band_r = raw["band_l"], raw["band_r"]
    frame_power = (band_l + band_r).sum(axis=1)
    power_db = 10.0 * np.log10(np.maximum(frame_power, 1e-30))
    if not np.any(frame_power > 1e-10):
        raise SilentAudioError("the audio is silent in the analysed range (80 Hz–16 kHz)")
    top_db = float(np.percentile(power_db, 99))
    floor_db = min(float(np.percentile(power_db, 10)), top_db - 20.0)
    activity = np.clip((power_db - floor_db - 3.0) / 6.0, 0.0, 1.0).astype(np.float32)
    activity[power_db < -100.0] = 0.0

    spatial = ex.channels == 2
    floor_band = 10 ** (floor_db / 10.0) / max(g.n_bands, 1) * 1e-2
    # band powers averaged over the same span as the ITD's cross-spectra
    avg = ex.average_frames
    ild_bands, ild, ild_weighted, consistency = _spatial.level_differences(
        uniform_filter1d(band_l, avg, axis=0) if avg > 1 else band_l,
        uniform_filter1d(band_r, avg, axis=0) if avg > 1 else band_r,
        floor_power=floor_band,
    )
    if spatial:
        # the averaged cross-spectrum of frame t is centred on frame t - (k - 1) / 2
        corr = raw["gcc"]
        shift = (ex.average_frames - 1) // 2
        if shift and n > shift:  # in place: an hour of correlations is tens of MB
            for start in range(0, n - shift, 4096):
                stop = min(start + 4096, n - shift)
                corr[start:stop] = corr[start + shift : stop + shift]
            corr[n - shift :] = corr[n - shift - 1]
        itd_s, gcc_peak, gcc_second = _spatial.pick_itd(
            corr,
            ex.lag_sr,
            context_frames=max(1, int(round(p.itd_context_s / hop_s))),
            frame_weight=activity,
            lobe=_spatial.main_lobe_lags(ex.lag_sr, sr=sr),
        )
        itd_ms = itd_s * 1000.0
        # A source that sounds all the time sits *at* the energy floor and would look like
        # noise; diffuse noise is caught by the coherence terms instead, so the floor keeps
        # a quarter weight.
        presence = np.where(power_db < -100.0, 0.0, 0.25 + 0.75 * activity)
        direct = _spatial.precedence_weight(frame_power) * presence
        itd_conf = _spatial.gcc_confidence(gcc_peak, gcc_second) * direct
        ild_conf = (consistency * direct).astype(np.float32)
        azimuth, az_conf, itd_share = _spatial.fuse_azimuth(
            itd_ms,
            itd_conf,
            ild_weighted,
            ild_conf,
            hop_s=hop_s,
            itd_ref_ms=p.itd_ref_ms,
            ild_ref_db=p.ild_ref_db,
            smooth_s=p.azimuth_smooth_s,
        )
        # sources: the time view where the recording carries time differences, else the
        # level view (a head's level difference depends on frequency, so its per-bin
        # histogram is smeared and would suggest sources that are not there)
        act = activity > 0.5
        s_itd = float(np.average(itd_share[act], weights=az_conf[act] + 1e-6)) if act.any() else 0.5
        # a spaced pair can exceed a head's ITD range: let the data widen the lag-to-azimuth
        # law so its sources do not all pile up at ±90°
        sure = itd_conf > 0.3
        itd_span = float(np.percentile(np.abs(itd_ms[sure]), 98)) if sure.sum() > 10 else 0.0
        itd_ref_track = min(max(p.itd_ref_ms, itd_span), p.max_delay_ms)
        # arrays that produce time differences at all (heads, spaced pairs) use the time
        # view; coincident pairs and pans (ITD ~ 0 throughout) the level view
        time_view = s_itd >= 0.5 or itd_span >= 0.08
        if time_view:
            spectrum = _time_view(raw, corr, ex.lag_sr, itd_ref_track)
            # Without sound below ~1.5 kHz (birdsong, whistles) every bin's phase wraps
            # within the delay range: the delay votes scatter and the correlation aliases, so
            # the time view cannot separate sources there. The test is relative and lenient
            # (3 %, -15 dB): a dummy head's ear canals tilt the spectrum up by 10-15 dB, so a
            # fixed share of the low frequencies would shut out real binaural recordings.
            low = g.band_edges_hz[1:] <= LF_GATE_HZ
            band_power = band_l + band_r
            lf_share = float(band_power[act][:, low].sum() / max(band_power[act].sum(), 1e-30))
            max_sources = p.max_sources if lf_share >= LF_GATE_SHARE else 1
            rel_height = 0.25
        else:
            spectrum = raw["level_hist"].astype(np.float32)
            max_sources = p.max_sources
            # level differences do not wrap or alias: a peak at 15% of the strongest is a
            # source (the time view's wrap candidates and side lobes need 25%)
            rel_height = 0.15
        # frames count by their direct sound: the squared correlation peak is high where one
        # or two sources dominate and low where reverberation does (a far source in a room),
        # whose spatial spectrum holds only scattered, stationary ghosts
        directness = np.clip(gcc_peak, 0.0, 1.0) ** 2
        # and by their amplitude: the reverberant tail between a bird's chirps or footsteps
        # is quieter than the sounds themselves, yet as long, and would form a centred ghost
        amplitude = np.sqrt(frame_power / max(float(np.percentile(frame_power, 99)), 1e-30))
        tracks = _sources.track_sources(
            spectrum,
            direct * directness * np.minimum(amplitude, 1.0),
            hop_s=hop_s,
            max_sources=max_sources,
            rel_height=rel_height,
            n_sources=p.n_sources,
        )
        del spectrum, corr
        for key in ("gcc", "level_hist", "delay_votes"):
            del raw[key]
    else:
        zeros = np.zeros(n, dtype=np.float32)
        itd_ms = itd_conf = ild_conf = azimuth = az_conf = itd_share = zeros
        tracks = _sources.TrackResult(zeros[None, :], np.ones((1, n), np.float32))

    loud = _loud.momentary_loudness(raw["k_power"], hop_s=hop_s)
    slope = _loud.loudness_slope(loud, hop_s=hop_s)
    f0, periodicity = raw["f0"], raw["periodicity"]
    voiced = (
        (periodicity >= p.voicing_threshold)
        & (activity > 0.5)
        & (f0 >= ex.pitch.effective_fmin_hz)
        & (f0 <= p.fmax_hz)
    )
    ratio, ref_f0 = doppler_ratio(f0, voiced)
    pslope = pitch_slope(ratio, voiced, hop_s=hop_s)
    strength, onset_times = _onsets.pick_onsets(raw["flux"], hop_s=hop_s, activity=activity)

    frames = FrameCues(
        time_s=times,
        activity=activity,
        itd_ms=itd_ms,
        itd_confidence=itd_conf,
        ild_db=ild if spatial else np.zeros_like(ild),
        ild_bands_db=ild_bands if spatial else np.zeros_like(ild_bands),
        ild_confidence=ild_conf,
        azimuth_deg=azimuth,
        azimuth_confidence=az_conf,
        itd_share=itd_share,
        loudness_lufs=loud,
        loudness_slope_db_per_s=slope,
        centroid_hz=raw["centroid"],
        f0_hz=np.where(voiced, f0, 0.0),
        voicing=periodicity,
        pitch_ratio=ratio,
        pitch_slope_st_per_s=pslope,
        onset_strength=strength,
    )
    duration = ex.samples_seen / sr
    sources = _describe_sources(tracks, frames, ratio, voiced, p)
    if not spatial:
        warnings.append("mono input: left/right cues are unavailable (azimuth fixed at 0)")
    return CueSheet(
        source=source,
        sr=sr,
        duration_s=duration,
        channels=ex.channels,
        spatial=spatial,
        hop_s=hop_s,
        frame_s=g.n_fft / sr,
        band_edges_hz=[round(float(e), 2) for e in g.band_edges_hz],
        params=p,
        frames=frames,
        seconds=_summarise_stretches(frames, onset_times, duration, p),
        summary=_summarise(frames, onset_times, duration, ref_f0, p),
        onsets_s=[round(float(t), 4) for t in onset_times],
        sources=sources,
        warnings=warnings,
    )


def _time_view(raw: dict, corr: np.ndarray, lag_sr: float, itd_ref_ms: float) -> np.ndarray:
    """Spatial spectrum from time differences: where the correlation and the bin votes agree.

    The PHAT-weighted correlation treats every bin alike, so a broadband source hides a
    tonal or quieter one, and it has side lobes; the per-bin delay votes are weighted by
    power and coherence but scatter over phase-wrap candidates. Their geometric mean keeps
    the directions both support. Rows sum to 1.
    """
    n = corr.shape[0]
    out = np.empty((n, _sources.AZ_GRID.size), dtype=np.float32)
    for start in range(0, n, 8192):  # in chunks: the temporaries stay small for long files
        sl = slice(start, start + 8192)
        gcc = _sources.time_spectrum(corr[sl], lag_sr, itd_ref_ms=itd_ref_ms)
        votes = _sources.time_spectrum(
            raw["delay_votes"][sl].astype(np.float32),
            _sources.ITD_HIST_STEPS_PER_S,
            itd_ref_ms=itd_ref_ms,
            subtract_floor=False,
        )
        out[sl] = np.sqrt(gcc * votes)
    out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-30)
    return out


def _motion(az: np.ndarray, w: np.ndarray, active: np.ndarray) -> tuple[float, float, Motion]:
    """Azimuth over the first and last fifth of the active frames, and the direction between.

    The direction follows :func:`spa2v.audio.spatial.motion_of` (a change over 20°).
    """
    fifth = max(1, active.size // 5)
    az0 = _weighted_median(az[active[:fifth]], w[active[:fifth]])
    az1 = _weighted_median(az[active[-fifth:]], w[active[-fifth:]])
    return az0, az1, _spatial.motion_of(az0, az1)


def _typical_level(loudness: np.ndarray) -> float:
    """Loudness while sounding: the 80th percentile of frames within 30 dB of the top.

    Pauses (speech, barking, footsteps) would drag a mean down and fake a trend.
    """
    finite = loudness[np.isfinite(loudness)]
    if finite.size == 0:
        return float(_loud.LOUDNESS_FLOOR_LUFS)
    audible = finite[finite >= finite.max() - 30.0]
    return float(np.percentile(audible, 80))


def _level_change(loudness: np.ndarray, active: np.ndarray) -> float:
    """Typical level of the last third of the active frames minus the first third.

    Thirds of the *sounding* span, not of the clip: speech that starts after a second of
    room noise would otherwise seem to rise out of that noise.
    """
    idx = np.flatnonzero(active)
    if idx.size < 3:
        idx = np.arange(loudness.size)
    third = max(1, idx.size // 3)
    return _typical_level(loudness[idx[-third:]]) - _typical_level(loudness[idx[:third]])


def _describe_sources(
    tracks: _sources.TrackResult,
    f: FrameCues,
    pitch_ratio: np.ndarray,
    voiced: np.ndarray,
    p: CueParams,
) -> list[SourceCues]:
    n_src = tracks.azimuth_deg.shape[0]
    localised = tracks.localised if tracks.localised is not None else np.ones(n_src, bool)
    n_found = int(np.sum(localised))  # the others were placed for a known count
    dominant = np.argmax(tracks.share, axis=0)
    out = []
    third = max(1, len(f) // 3)
    for k in range(n_src):
        share = tracks.share[k]
        az = f.azimuth_deg if n_src == 1 else tracks.azimuth_deg[k]
        loud = f.loudness_lufs + 10.0 * np.log10(np.maximum(share, 1e-6))
        loud = np.maximum(loud, _loud.LOUDNESS_FLOOR_LUFS).astype(np.float32)
        mine = (dominant == k) & (f.activity > 0.5)
        # a quieter source is rarely the strongest, but it is there wherever it holds a fair
        # share of the directional energy
        present = (share >= 0.25) & (f.activity > 0.2) if n_src > 1 else mine
        w = share * f.activity * (f.azimuth_confidence if n_src == 1 else 1.0)
        active = np.flatnonzero(present) if present.any() else np.arange(len(f))
        az0, az1, motion = _motion(az, w, active)
        mean_az = _weighted_median(az[active], w[active])
        v = voiced & (dominant == k)
        pitch_change = 0.0
        if v[:third].any() and v[-third:].any():
            pitch_change = 12.0 * math.log2(
                float(np.median(pitch_ratio[-third:][v[-third:]]))
                / float(np.median(pitch_ratio[:third][v[:third]]))
            )
        out.append(
            SourceCues(
                id=k,
                azimuth_deg=az,
                share=share,
                loudness_lufs=loud,
                side=_spatial.side_of(mean_az, threshold_deg=p.side_threshold_deg),
                azimuth_mean_deg=round(mean_az, 2),
                azimuth_start_deg=round(az0, 2),
                azimuth_end_deg=round(az1, 2),
                motion=motion,
                loudness_change_db=round(_level_change(loud, present & (f.activity > 0.5)), 2),
                loudest_time_s=round(float(f.time_s[int(np.argmax(loud))]), 3),
                pitch_change_st=round(pitch_change, 3),
                active_fraction=round(float(mine.mean()), 3),
                # one source alone is heard wherever the recording is within 35 dB of its
                # loudest (a far, quiet start included); several, where each has a peak
                heard=(loud > loud.max() - SOLE_SOURCE_RANGE_DB).astype(np.float32)
                if n_src == 1 or (n_found == 1 and localised[k])
                else None
                if tracks.heard is None
                else tracks.heard[k].astype(np.float32),
                localised=bool(localised[k]),
            )
        )
    return out


def _summarise_stretches(
    f: FrameCues, onsets: np.ndarray, duration: float, p: CueParams
) -> list[SecondCues]:
    out = []
    n_stretch = max(1, math.ceil(duration / p.summary_s - 1e-9))
    edges = np.searchsorted(f.time_s, np.arange(n_stretch + 1) * p.summary_s)
    edges[-1] = len(f)
    for i in range(n_stretch):
        sl = slice(edges[i], max(edges[i + 1], edges[i] + 1))
        w = f.azimuth_confidence[sl] * f.activity[sl]
        az = _weighted_median(f.azimuth_deg[sl], w)
        voiced = f.f0_hz[sl] > 0
        start, end = i * p.summary_s, min((i + 1) * p.summary_s, duration)
        act = f.activity[sl]
        out.append(
            SecondCues(
                start_s=round(start, 4),
                end_s=round(end, 4),
                azimuth_deg=round(az, 2),
                azimuth_confidence=round(
                    float((f.azimuth_confidence[sl] * act).sum() / max(act.sum(), 1e-9)), 3
                ),
                side=_spatial.side_of(az, threshold_deg=p.side_threshold_deg),
                itd_ms=round(_weighted_median(f.itd_ms[sl], f.itd_confidence[sl]), 4),
                ild_db=round(_weighted_median(f.ild_db[sl], f.ild_confidence[sl]), 2),
                loudness_lufs=round(float(f.loudness_lufs[sl].mean()), 2),
                loudness_slope_db_per_s=round(float(f.loudness_slope_db_per_s[sl].mean()), 2),
                pitch_ratio=round(float(np.median(f.pitch_ratio[sl][voiced])), 4)
                if voiced.any()
                else 1.0,
                voiced_fraction=round(float(voiced.mean()), 3),
                onsets=int(((onsets >= start) & (onsets < end)).sum()),
            )
        )
    return out


def _summarise(
    f: FrameCues, onsets: np.ndarray, duration: float, ref_f0: float, p: CueParams
) -> CueSummary:
    active = np.flatnonzero(f.activity > 0.5)
    if active.size == 0:
        active = np.arange(len(f))
    w = f.azimuth_confidence * f.activity
    az = _weighted_median(f.azimuth_deg[active], w[active])
    az0, az1, motion = _motion(f.azimuth_deg, w, active)
    third = max(1, len(f) // 3)
    change = _level_change(f.loudness_lufs, f.activity > 0.5)
    trend: Literal["rising", "falling", "steady"] = "steady"
    if change > 3.0:
        trend = "rising"
    elif change < -3.0:
        trend = "falling"
    voiced = f.f0_hz > 0
    v_first, v_last = voiced[:third], voiced[-third:]
    pitch_change = 0.0
    if v_first.any() and v_last.any():
        pitch_change = 12.0 * math.log2(
            float(np.median(f.pitch_ratio[-third:][v_last]))
            / float(np.median(f.pitch_ratio[:third][v_first]))
        )
    return CueSummary(
        side=_spatial.side_of(az, threshold_deg=p.side_threshold_deg),
        azimuth_deg=round(az, 2),
        azimuth_start_deg=round(az0, 2),
        azimuth_end_deg=round(az1, 2),
        motion=motion,
        loudness_trend=trend,
        loudness_change_db=round(change, 2),
        pitch_change_st=round(pitch_change, 3),
        loudest_time_s=round(float(f.time_s[int(np.argmax(f.loudness_lufs))]), 3),
        onset_rate_hz=round(onsets.size / max(duration, 1e-9), 3),
        voiced_fraction=round(float(voiced[active].mean()), 3),
        reference_f0_hz=round(ref_f0, 2),
    )


def compute_cues(
    y: np.ndarray, *, sr: int, params: CueParams | None = None, source: str | None = None
) -> CueSheet:
    """Measure the cue sheet of an in-memory signal.

    Parameters
    ----------
    y : np.ndarray [shape=(2, n) or (1, n) or (n,)]
        Stereo (channel 0 = left) or mono samples, nominally in [-1, 1].
    sr : int
        Sample rate in Hz (8–384 kHz).
    params : CueParams or None
        Analysis settings; defaults are documented on :class:`CueParams`.
    source : str or None
        Recorded in the cue sheet.

    Returns
    -------
    CueSheet

    Raises
    ------
    AudioError
        Empty, silent or non-finite input; more than two channels.

    Examples
    --------
    >>> from spa2v.audio.synth import render_preset
    >>> scene = render_preset("static-left", duration_s=2.0, seed=0)
    >>> cues = compute_cues(scene.audio, sr=scene.sr)
    >>> cues.summary.side
    'left'
    """
    y = validate_audio(y, sr)
    extractor = CueExtractor(sr, y.shape[0], params, duration_s=y.shape[1] / sr)
    extractor.push(y)
    return extractor.finish(source=source)


def analyze_file(
    path: str | Path,
    *,
    sr: int | None = 48_000,
    channels: tuple[int, int] | None = None,
    params: CueParams | None = None,
    progress: Callable[[float, float | None], None] | None = None,
) -> CueSheet:
    """Stream a file through the cue analysis with bounded memory.

    Parameters
    ----------
    path : str or Path
        Audio or video file (see :func:`spa2v.audio.load.open_audio`).
    sr : int or None
        Analysis sample rate (default 48 kHz; ``None`` = the file's rate).
    channels : (int, int) or None
        Left/right channel indices for files with more than two channels.
    params : CueParams or None
        Analysis settings.
    progress : callable or None
        Called as ``progress(seconds_done, total_seconds_or_None)`` after each block.

    Returns
    -------
    CueSheet
    """
    with open_audio(path, sr=sr, channels=channels) as stream:
        extractor = CueExtractor(stream.sr, stream.channels, params, duration_s=stream.duration_s)
        for block in stream:
            extractor.push(block)
            if progress is not None:
                progress(extractor.samples_seen / stream.sr, stream.duration_s)
        stream.check_finished()
        return extractor.finish(source=str(path))

"""Exception types raised by spa2v.

Every error a user can cause (a bad file, a bad option) is a :class:`Spa2vError`; the CLI prints
its message on one line and exits with status 2. Anything else is a bug.
"""

from __future__ import annotations


class Spa2vError(Exception):
    """Base class of all errors caused by input or options rather than by a bug."""


class ParameterError(Spa2vError, ValueError):
    """An option or argument is out of range or inconsistent."""


class AudioError(Spa2vError):
    """The audio input cannot be used."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The audio file does not exist."""


class AudioDecodeError(AudioError):
    """The file is unreadable, corrupt or not a media file."""


class NoAudioStreamError(AudioError):
    """The media file has no audio stream."""


class EmptyAudioError(AudioError):
    """The audio has no samples, or too few to analyse."""


class SilentAudioError(AudioError):
    """Every sample is (digitally) silent."""


class InvalidSamplesError(AudioError):
    """The audio contains NaN/Inf or implausible sample values."""


class SampleRateError(AudioError):
    """A sample rate is outside the supported range."""


class ChannelError(AudioError):
    """The channel layout cannot be used as it is (e.g. more than two channels)."""

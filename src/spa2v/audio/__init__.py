"""Audio input and analysis: loading, spatial cues, synthetic scenes."""

from spa2v.audio.load import Audio, MonoAudioWarning, load_audio, open_audio

__all__ = ["Audio", "MonoAudioWarning", "load_audio", "open_audio"]

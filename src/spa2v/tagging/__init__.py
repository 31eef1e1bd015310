"""What is sounding: audio tagging per tracked source (``--tagger none|ast|clap``)."""

from spa2v.tagging.base import SourceTag, Tagger, get_tagger, tag_sources
from spa2v.tagging.mapping import drawable

__all__ = ["SourceTag", "Tagger", "drawable", "get_tagger", "tag_sources"]

"""Generation: render a Video Scene Layout into frames (and, with :mod:`spa2v.media.video`, MP4).

Generators are chosen by name (:func:`get_generator`); the embedded default is ``"animatic"``,
a storyboard renderer that needs no GPU and no model.
"""

from spa2v.generation.base import GENERATORS, Generator, RenderRequest, get_generator

__all__ = ["GENERATORS", "Generator", "RenderRequest", "get_generator"]

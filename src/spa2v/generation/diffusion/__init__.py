"""The diffusion generator: AnimateDiff (Stable Diffusion 1.5) or Wan 2.1, with training-free
layout guidance.

Optional extra ``spa2v[diffusion]`` (torch, diffusers, transformers). Importing this package does
not import torch; :class:`DiffusionGenerator` does when it first generates. Its options are the
``diffusion`` section of the run configuration (:class:`spa2v.config.DiffusionSettings`).
"""

from typing import Any

from spa2v.config import DiffusionSettings

__all__ = ["DiffusionGenerator", "DiffusionSettings"]


def __getattr__(name: str) -> Any:
    if name == "DiffusionGenerator":
        from spa2v.generation.diffusion.generator import DiffusionGenerator

        return DiffusionGenerator
    raise AttributeError(name)

"""spa2v: turn a stereo recording into a video whose content and layout follow the sound.

The package is organised as one-way stages: ``audio`` (load, cues, synthetic scenes) ->
``layout``/``planning`` -> ``generation`` -> ``media``. Importing it does not import torch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spa2v")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

from typing import Any

from spa2v.errors import Spa2vError

__all__ = ["Spa2vError", "__version__", "cues", "plan", "render", "run"]


def __getattr__(name: str) -> Any:
    # the API pulls in SciPy, PyAV and pydantic models: load it on first use only
    if name in ("cues", "plan", "render", "run"):
        from spa2v import api

        return getattr(api, name)
    raise AttributeError(f"module 'spa2v' has no attribute {name!r}")

"""spa2v: turn a stereo recording into a video whose content and layout follow the sound.

The package is organised as one-way stages: ``audio`` (load, cues, synthetic scenes) ->
``layout``/``planning`` -> ``generation`` -> ``media``. Importing it does not import torch.
"""

from typing import TYPE_CHECKING, Any

from spa2v.errors import Spa2vError

if TYPE_CHECKING:  # type checkers see the real signatures; at run time they load on first use
    from spa2v.api import cues, plan, render, run
    from spa2v.config import RunConfig

    __version__: str

__all__ = ["RunConfig", "Spa2vError", "__version__", "cues", "plan", "render", "run"]


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata costs ~40 ms: only when asked
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("spa2v")
        except PackageNotFoundError:  # running from a source tree without installation
            return "0.0.0"
    # the API pulls in NumPy, PyAV and pydantic models: load it on first use only
    if name in ("cues", "plan", "render", "run"):
        from spa2v import api

        return getattr(api, name)
    if name == "RunConfig":
        from spa2v.config import RunConfig

        return RunConfig
    raise AttributeError(f"module 'spa2v' has no attribute {name!r}")

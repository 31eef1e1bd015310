"""Optional extras: one mapping, one check, one error (as diffusers' ``requires_backends``).

Every backend that needs an optional dependency imports it through :func:`require`, so a
missing one is always the same :class:`ExtraMissingError`, whose message names what needs it,
the missing package and the ``pip install`` to run.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from spa2v.errors import Spa2vError

#: What each extra of ``pyproject.toml`` brings that spa2v imports, by import name.
EXTRAS: dict[str, tuple[str, ...]] = {
    "llm": ("google.genai", "openai"),
    "diffusion": ("torch", "diffusers", "transformers"),
    "tagging": ("torch", "transformers"),
    "ui": ("gradio",),
    "distributed": ("ray",),
    "eval": ("cv2",),
    "detection": ("torch", "transformers"),
}


class ExtraMissingError(Spa2vError, ImportError):
    """An optional dependency is not installed; the message says which extra brings it.

    Attributes
    ----------
    extra : str
        The extra to install (``pip install 'spa2v[EXTRA]'``).
    """

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


def require(extra: str, what: str, modules: tuple[str, ...] | None = None) -> list[ModuleType]:
    """Import the modules ``what`` needs from ``extra`` and return them.

    Parameters
    ----------
    extra : str
        A key of :data:`EXTRAS`.
    what : str
        What needs them, for the message ("the diffusion generator").
    modules : tuple of str or None
        Import names to load (default: all of the extra's).

    Returns
    -------
    list of module
        In the order of ``modules``.

    Raises
    ------
    ExtraMissingError
        Naming the first missing package and ``pip install 'spa2v[EXTRA]'``.
    """
    names = modules or EXTRAS[extra]
    loaded = []
    for name in names:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as exc:
            missing = exc.name or name
            raise ExtraMissingError(
                f"{what} needs {', '.join(names)} ({missing} is missing): "
                f"pip install 'spa2v[{extra}]'",
                extra=extra,
            ) from None
    return loaded

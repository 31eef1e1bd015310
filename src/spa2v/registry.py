"""One registry mechanism for planners, generators and taggers, and the three registries.

Each entry names the factory that builds the backend — ``"module:callable"``, imported only
when that backend is asked for, so optional extras load lazily. A factory takes the run's
:class:`~spa2v.config.RunConfig` (or None for the defaults). Every backend built here has a
``preflight()`` (it is in the planner, generator and tagger protocols) that checks, before
any work, what it needs on this machine (extras, weights, API keys, a device) and raises a
:class:`~spa2v.errors.Spa2vError` naming it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from spa2v.errors import ParameterError

if TYPE_CHECKING:
    from spa2v.config import RunConfig
    from spa2v.generation.base import Generator
    from spa2v.planning.base import Planner
    from spa2v.tagging.base import Tagger


T = TypeVar("T")


class Registry(Generic[T]):
    """Backends of one kind by name.

    Parameters
    ----------
    kind : str
        What they are (``"planner"``), for messages.
    entries : dict of str to str
        Name → ``"module:factory"``; the factory is called with the run's config.
    """

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def factory(self, name: str) -> Callable[..., T]:
        """The factory of ``name``; a :class:`ParameterError` listing the names otherwise."""
        if name not in self._entries:
            raise ParameterError(
                f"unknown {self.kind} {name!r}; choose from {', '.join(self._entries)}"
            )
        module, attr = self._entries[name].split(":")
        factory: Any = importlib.import_module(module)
        for part in attr.split("."):  # "Class.from_config"
            factory = getattr(factory, part)
        return factory  # type: ignore[no-any-return]

    def get(self, name: str, config: RunConfig | None = None) -> T:
        """Build backend ``name`` for ``config`` (nothing heavy loads until it is used)."""
        return self.factory(name)(config)


def settings_of(config: RunConfig | None, section: str) -> Any:
    """A section of ``config`` (the defaults when ``config`` is None)."""
    from spa2v.config import RunConfig

    return getattr(config or RunConfig(), section)


def no_tagger(config: Any = None) -> None:
    """``--tagger none``: nothing to recognise (and nothing of the tagging code to load)."""
    return None


#: The planners (``--planner``).
PLANNERS: Registry[Planner] = Registry("planner", {
    "cues": "spa2v.planning.heuristic:CuePlanner",
    "naive": "spa2v.planning.naive:NaivePlanner",
    "gemini": "spa2v.planning.llm.planner:gemini",
    "openai": "spa2v.planning.llm.planner:openai",
})  # fmt: skip
#: The generators (``--generator``); torch and diffusers load only when the diffusion
#: generator makes frames.
GENERATORS: Registry[Generator] = Registry("generator", {
    "animatic": "spa2v.generation.animatic:AnimaticGenerator",
    "diffusion": "spa2v.generation.diffusion.generator:DiffusionGenerator.from_config",
})  # fmt: skip
#: The taggers (``--tagger``; ``none``: names come from the labels only).
TAGGERS: Registry[Tagger | None] = Registry("tagger", {
    "none": "spa2v.registry:no_tagger",
    "ast": "spa2v.tagging.models:ASTTagger.from_config",
    "clap": "spa2v.tagging.models:ClapTagger.from_config",
})  # fmt: skip

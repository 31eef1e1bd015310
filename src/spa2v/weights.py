"""Model weights on this machine: a local folder, or a hub id already in the local cache.

Every model backend (the diffusion generator, the taggers, the web app through them) resolves
its weights here *before any work*, and then loads them from the folder this returns. spa2v
never downloads weights and never asks a model hub anything (so ``HF_HUB_OFFLINE`` is always
honoured): a missing model is one clear error, at once, that names the model and how to get it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spa2v.errors import Spa2vError


class WeightsNotFoundError(Spa2vError):
    """The weights of a model are neither a local folder nor in the local hub cache."""


#: What a Hugging Face hub id can be: ``name`` or ``owner/name``, ASCII letters, digits, ``_.-``.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")


def looks_local(ref: str) -> bool:
    """Whether ``ref`` names a path rather than a hub id (``owner/name``): it starts like a
    path, exists here, or cannot be a hub id (a space, a non-ASCII letter, three parts…)."""
    return (ref.startswith((".", "/", "~")) or Path(ref).expanduser().exists()
            or not HUB_ID.fullmatch(ref))  # fmt: skip


def resolve_weights(ref: str, what: str) -> str:
    """The local folder holding the weights ``ref`` (a folder, or a hub id in the cache).

    Parameters
    ----------
    ref : str
        A local folder, or a hub id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5``.
    what : str
        What the weights are, for messages ("model", "motion adapter", "tagger model").

    Returns
    -------
    str
        An absolute folder path, to load from without any network access.

    Raises
    ------
    WeightsNotFoundError
        For a folder that does not exist, or a hub id that is not in this machine's cache;
        the message says how to fetch it. Takes no network and well under a second.
    """
    if looks_local(ref):
        folder = Path(ref).expanduser()
        if folder.is_file():
            raise WeightsNotFoundError(f"the {what} {ref!r} is a file: a folder is expected")
        if not folder.is_dir():
            raise WeightsNotFoundError(f"the {what} folder {ref!r} does not exist")
        return str(folder.resolve())
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # the extras that load weights bring huggingface_hub
        raise WeightsNotFoundError(f"the {what} {ref!r} is not a local folder") from None
    try:
        return snapshot_download(ref, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        cache = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE
        raise WeightsNotFoundError(
            f"the {what} {ref!r} is not on this machine: it is not a local folder, and the hub "
            f"id is not in the Hugging Face cache ({cache}). spa2v never downloads weights: "
            f"fetch them once where there is network ('hf download {ref}', then copy the "
            "cache here), or pass a local folder"
        ) from None

"""Per-frame prompts from the layout's captions, and where each object's words sit in them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spa2v.errors import ParameterError
from spa2v.layout.vsl import VSL


class PromptTooLongError(ParameterError):
    """The objects' names do not fit in the text encoder's context."""


@dataclass(frozen=True)
class FramePrompt:
    """The prompt of one generated frame.

    Attributes
    ----------
    text : str
        The prompt.
    tokens : dict of int to list of int
        Per object id, the positions of its name's tokens in the tokenized prompt (with the
        tokenizer's special tokens: CLIP's start-of-text token is position 0; T5 has none).
    """

    text: str
    tokens: dict[int, list[int]]


def _find(seq: list[int], sub: list[int]) -> int:
    for i in range(len(seq) - len(sub) + 1):
        if seq[i : i + len(sub)] == sub:
            return i
    return -1


def locate(
    tokenizer: Any, prompt: str, names: dict[int, str], *, limit: int | None = None
) -> tuple[str, dict[int, list[int]]]:
    """Positions of each name's tokens in ``prompt``; names not found are appended.

    ``limit`` is the text encoder's context in tokens (default: the tokenizer's
    ``model_max_length``, 77 for CLIP).

    Raises
    ------
    PromptTooLongError
        When a name cannot be placed within the text encoder's context.
    """
    limit = limit or int(getattr(tokenizer, "model_max_length", 77))
    text = prompt.strip()
    for name in names.values():
        ids = tokenizer(text, add_special_tokens=True).input_ids[: limit - 1]
        sub = tokenizer(name, add_special_tokens=False).input_ids
        if _find(ids, sub) < 0:
            text = f"{text.rstrip('.')}, {name}" if text else name
    ids = tokenizer(text, add_special_tokens=True).input_ids
    ids = ids[: limit - 1]  # the end-of-text token takes the last place
    out: dict[int, list[int]] = {}
    for oid, name in names.items():
        sub = tokenizer(name, add_special_tokens=False).input_ids
        at = _find(ids, sub)
        if at < 0 or not sub:
            raise PromptTooLongError(
                f"the object {name!r} does not fit in the prompt ({limit} tokens): use "
                "diffusion.captions global, shorter captions or fewer objects"
            )
        out[oid] = list(range(at, at + len(sub)))
    return text, out


def frame_prompts(
    layout: VSL, n_frames: int, tokenizer: Any, *, mode: str = "mix"
) -> list[FramePrompt]:
    """The prompt of every generated frame.

    ``global``: the layout's caption; ``local``: the caption of the keyframe in force (the last
    one at or before the frame; the global caption where it is empty); ``mix``: the global
    caption followed by the local one. Object names missing from a prompt are appended; when
    the mix does not leave room for them, the frame falls back to the global caption.
    """
    times = layout.frame_times(n_frames)
    key_t = np.array([kf.time for kf in layout.keyframes])
    idx = np.clip(np.searchsorted(key_t, times, side="right") - 1, 0, None)
    names = {o.id: o.name for o in layout.objects}
    out: list[FramePrompt] = []
    cache: dict[str, FramePrompt] = {}
    for i in range(n_frames):
        local = layout.keyframes[int(idx[i])].caption.strip()
        glob = layout.caption.strip()
        if mode == "global" or not local:
            text = glob or local
        elif mode == "local":
            text = local
        else:
            text = f"{glob} {local}".strip()
        if text not in cache:
            try:
                full, tokens = locate(tokenizer, text, names)
            except PromptTooLongError:
                if mode == "global" or text == glob:
                    raise
                full, tokens = locate(tokenizer, glob, names)
            cache[text] = FramePrompt(full, tokens)
        out.append(cache[text])
    return out


def _lead_article_lower(text: str) -> str:
    """A leading article in lower case ("The cow" → "the cow": it follows "then"); any
    other first word is left alone."""
    head, _, rest = text.partition(" ")
    return f"{head.lower()} {rest}" if head in ("The", "A", "An") and rest else text


def clip_prompt(layout: VSL, t0_s: float, t1_s: float, *, mode: str = "mix") -> str:
    """One prompt for the stretch ``t0_s … t1_s`` of the clip (a backbone with one prompt per
    clip or window, such as Wan).

    ``global``: the layout's caption; ``local``: the captions of the keyframes in force during
    the stretch, in time order ("the cow on the left, then the helicopter on the right");
    ``mix``: the global caption, then the local ones. The objects' names are appended by
    :func:`locate` where missing.
    """
    key_t = np.array([kf.time for kf in layout.keyframes])
    first, last = (max(int(np.searchsorted(key_t, t, side="right")) - 1, 0) for t in (t0_s, t1_s))
    local: list[str] = []
    for kf in layout.keyframes[first : last + 1]:
        caption = _lead_article_lower(kf.caption.strip().rstrip("."))
        if caption and (not local or local[-1] != caption):
            local.append(caption)
    glob = layout.caption.strip().rstrip(".")
    story = ", then ".join(local)
    if mode == "global" or not story:
        return glob or story
    if mode == "local" or not glob:
        return story
    return f"{glob}. {story}"

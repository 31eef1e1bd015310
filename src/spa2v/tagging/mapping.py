"""From audio classes to things that can be drawn.

AudioSet class names (and any other tagger's labels) are mapped to the object names of the
storyboard's icon set by ordered keyword rules: the first rule whose keyword appears in the
class name (whole words, case-insensitive) wins. Classes that show nothing — silence, noise,
reverberation, room tone, generic "sound effect" — map to ``None`` and never become objects.
"""

from __future__ import annotations

import re

#: Classes with nothing to show (checked first).
INVISIBLE = (
    "silence", "noise", "static", "hum", "buzz", "reverberation", "echo", "inside",
    "outside", "environmental", "sound effect", "sine wave", "chirp tone", "pulse",
    "distortion", "cacophony", "throbbing", "vibration", "ambient", "field recording",
    "mains hum", "white noise", "pink noise", "hiss", "rumble", "whoosh",
)  # fmt: skip

#: (keywords, drawable name), most specific first.
RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("helicopter",), "helicopter"),
    (("fixed-wing aircraft", "airplane", "aircraft", "jet engine", "propeller"), "airplane"),
    (("police car",), "police car"),
    (("ambulance",), "ambulance"),
    (("fire engine", "fire truck"), "fire engine"),
    (("siren", "civil defense"), "siren"),
    (("truck", "lorry", "air brake", "reversing beeps"), "truck"),
    (("bus",), "bus"),
    (("motorcycle", "motorbike"), "motorcycle"),
    (("train", "railroad", "rail transport", "subway", "metro"), "train"),
    (("tram", "streetcar"), "tram"),
    (("bicycle",), "bicycle"),
    (("skateboard",), "person"),
    (("boat", "ship", "motorboat", "sailboat", "water vehicle"), "boat"),
    (
        (
            "car",
            "vehicle horn",
            "honking",
            "motor vehicle",
            "traffic",
            "engine",
            "tire squeal",
            "skidding",
            "race car",
            "idling",
            "accelerating",
        ),
        "car",
    ),
    (("tractor", "lawn mower"), "tractor"),
    (("dog", "bark", "howl", "growling", "whimper", "bow-wow", "yip"), "dog"),
    (("cat", "meow", "purr", "hiss (cat)", "caterwaul"), "cat"),
    (("cattle", "moo", "cowbell", "cow"), "cow"),
    (("horse", "neigh", "clip-clop"), "horse"),
    (("sheep", "bleat", "goat"), "sheep"),
    (("pig", "oink"), "pig"),
    (("rooster", "crowing", "cock-a-doodle-doo"), "rooster"),
    (("chicken", "cluck", "fowl"), "chicken"),
    (("duck", "quack"), "duck"),
    (("goose", "honk"), "goose"),
    (("owl", "hoot"), "owl"),
    (("crow", "caw", "pigeon", "dove", "coo"), "bird"),
    (("bird", "chirp", "tweet", "squawk", "birdsong"), "bird"),
    (("frog", "croak"), "frog"),
    (("bee", "wasp", "buzzing insect"), "bee"),
    (("mosquito",), "mosquito"),
    (("fly", "housefly"), "fly"),
    (("cricket", "insect"), "cricket"),
    (("whale",), "whale"),
    (("lion", "roar"), "lion"),
    (("elephant",), "elephant"),
    (("monkey",), "monkey"),
    (("singing", "choir", "vocal music", "a capella", "rapping", "humming"), "singer"),
    (("baby", "infant cry"), "baby"),
    (("child speech", "kid speaking", "children"), "child"),
    (("female speech", "woman speaking"), "woman"),
    (("male speech", "man speaking"), "man"),
    (("crowd", "chatter", "hubbub", "cheering"), "crowd"),
    (("applause", "clapping"), "applause"),
    (("footsteps", "walk", "run", "shuffle"), "footsteps"),
    (
        (
            "speech",
            "conversation",
            "narration",
            "laughter",
            "giggle",
            "shout",
            "yell",
            "whispering",
            "crying",
            "sobbing",
            "cough",
            "sneeze",
            "breathing",
            "whistling",
        ),
        "person",
    ),
    (("guitar", "banjo", "sitar", "mandolin", "ukulele"), "guitar"),
    (("piano", "keyboard (musical)", "organ", "harpsichord", "synthesizer"), "piano"),
    (("violin", "fiddle", "cello", "string section", "bowed string"), "violin"),
    (("drum", "percussion", "cymbal", "snare", "tabla", "timpani"), "drum"),
    (("trumpet", "brass instrument", "trombone", "french horn"), "trumpet"),
    (("saxophone", "clarinet", "wind instrument", "woodwind"), "saxophone"),
    (("flute", "recorder"), "flute"),
    (("accordion", "harmonica"), "accordion"),
    (("bell", "chime", "gong", "jingle"), "bell"),
    (("music", "musical instrument"), "music"),
    (("clock", "tick-tock", "tick", "alarm clock"), "clock"),
    (("telephone", "ringtone", "dial tone"), "phone"),
    (("door", "knock", "doorbell", "slam"), "door"),
    (("typing", "computer keyboard", "typewriter"), "keyboard"),
    (("television",), "television"),
    (("radio",), "radio"),
    (("hammer", "hammering"), "hammer"),
    (("chainsaw", "sawing", "saw"), "saw"),
    (("drill", "jackhammer", "power tool"), "drill"),
    (("wood chop", "axe", "chop"), "axe"),
    (("explosion", "gunshot", "gunfire", "boom", "burst, pop", "artillery"), "explosion"),
    (("fireworks", "firecracker"), "fireworks"),
    (("thunderstorm", "thunder"), "thunder"),
    (("rain", "raindrop"), "rain"),
    (("wind",), "wind"),
    (("ocean", "waves, surf", "surf"), "waves"),
    (("waterfall", "stream", "water", "splash", "drip", "pour", "fountain"), "water"),
    (("fire", "crackle"), "fire"),
    (("rustling leaves", "leaves"), "leaves"),
)

_WORD = {kw: re.compile(r"(?<![a-z])" + re.escape(kw) + r"(?![a-z])") for rule in RULES
         for kw in rule[0]}  # fmt: skip
_INVISIBLE = [re.compile(r"(?<![a-z])" + re.escape(w) + r"(?![a-z])") for w in INVISIBLE]


def drawable(label: str) -> str | None:
    """The drawable object name for an audio class, or None when it shows nothing.

    Examples
    --------
    >>> drawable("Vehicle horn, car horn, honking")
    'car'
    >>> drawable("Speech"), drawable("Bird vocalization, bird call, bird song")
    ('person', 'bird')
    >>> drawable("Silence") is None
    True
    """
    text = label.lower()
    for rule_words, name in RULES:
        if any(_WORD[w].search(text) for w in rule_words):
            return name
    if any(p.search(text) for p in _INVISIBLE):
        return None
    return None

"""Backgrounds for the storyboard: a setting that suits the caption, drawn once per video.

The setting is picked from keywords of the captions and object names (street, water, indoor,
forest, field, sky, or a plain outdoor scene), with modifiers for night and bad weather. The
horizon is drawn where the layout's camera model puts it (``camera.horizon`` in the layout,
0.42 of the height from the top by default), so that objects placed on the ground plane stand
on the drawn ground and far ones meet the horizon.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

Setting = Literal["street", "water", "indoor", "forest", "field", "sky", "outdoor"]

#: Keywords of each setting, tried in this order (first match wins).
SETTING_WORDS: dict[str, tuple[str, ...]] = {
    "indoor": ("indoor", "indoors", "room", "kitchen", "office", "house", "hall", "studio",
               "stage", "concert", "church", "classroom", "bedroom", "living", "inside",
               "piano", "keyboard", "door", "television", "clock", "phone", "typing"),
    "water": ("water", "sea", "ocean", "lake", "river", "beach", "harbour", "harbor", "boat",
              "ship", "ferry", "speedboat", "waves", "surf", "whale", "dolphin", "seal"),
    "street": ("street", "road", "city", "traffic", "highway", "town", "car", "truck", "bus",
               "lorry", "taxi", "motorcycle", "scooter", "ambulance", "siren", "tram", "van",
               "police", "engine"),
    "forest": ("forest", "woods", "wood", "jungle", "tree", "trees", "park"),
    "field": ("field", "farm", "meadow", "grass", "pasture", "cow", "sheep", "horse",
              "tractor", "goat", "pig", "rooster", "chicken", "donkey", "ox"),
    "sky": ("sky", "air", "airport", "flight", "helicopter", "airplane", "plane", "jet",
            "drone", "aircraft"),
}  # fmt: skip
NIGHT_WORDS = ("night", "dark", "midnight", "evening")
STORM_WORDS = ("rain", "storm", "thunder", "rainfall", "drizzle", "snow")


def pick_setting(text: str) -> tuple[Setting, bool, bool]:
    """``(setting, night, stormy)`` for a caption (plus object names).

    Examples
    --------
    >>> pick_setting("A car drives along the street at night.")
    ('street', True, False)
    """
    words = set(re.findall(r"[a-z]+", text.lower()))
    setting: Setting = "outdoor"
    for name, keys in SETTING_WORDS.items():
        if words.intersection(keys):
            setting = name  # type: ignore[assignment]
            break
    return setting, bool(words.intersection(NIGHT_WORDS)), bool(words.intersection(STORM_WORDS))


def _vgradient(h: int, w: int, top: tuple[int, int, int], bottom: tuple[int, int, int]):
    t = np.linspace(0.0, 1.0, max(h, 1))[:, None, None]
    col = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(col, (h, w, 3)).astype(np.uint8)


def draw_background(
    text: str, width: int, height: int, *, horizon: float = 0.42, seed: int = 0
) -> np.ndarray:
    """The background image of a video.

    Parameters
    ----------
    text : str
        Caption and object names; they choose the setting.
    width, height : int
        Size in pixels.
    horizon : float
        Height of the horizon, fraction of the frame from the top.
    seed : int
        Seed of the random details (clouds, trees, buildings, stars).

    Returns
    -------
    np.ndarray [shape=(height, width, 3), uint8]
    """
    from PIL import Image, ImageDraw

    setting, night, storm = pick_setting(text)
    rng = np.random.default_rng(seed)
    hy = int(round(np.clip(horizon, 0.05, 0.95) * height))
    W, H = width, height
    if night:
        sky = ((12, 18, 48), (40, 52, 96))
    elif storm:
        sky = ((92, 100, 112), (160, 166, 174))
    else:
        sky = ((96, 160, 230), (196, 224, 248))
    ground = {
        "street": ((120, 150, 96), (96, 130, 80)),
        "water": ((40, 110, 170), (20, 70, 130)),
        "indoor": ((176, 132, 90), (140, 100, 64)),
        "forest": ((70, 120, 60), (50, 96, 44)),
        "field": ((132, 186, 92), (96, 160, 70)),
        "sky": ((150, 190, 120), (120, 170, 100)),
        "outdoor": ((150, 186, 110), (120, 164, 90)),
    }[setting]
    if setting == "indoor":
        sky = ((222, 214, 196), (206, 196, 176)) if not night else ((90, 84, 100), (70, 66, 82))
    img = np.empty((H, W, 3), np.uint8)
    img[:hy] = _vgradient(hy, W, *sky)
    img[hy:] = _vgradient(H - hy, W, *ground)
    if night and setting != "indoor":
        img[hy:] = (img[hy:] * 0.45).astype(np.uint8)
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)

    if setting == "indoor":
        # skirting board, a window and floorboards converging to the centre
        d.rectangle([0, hy - max(2, H // 80), W, hy], fill=(120, 96, 70))
        wx = int(rng.uniform(0.1, 0.6) * W)
        d.rectangle([wx, int(hy * 0.2), wx + W // 5, int(hy * 0.75)], fill=(150, 196, 230),
                    outline=(250, 250, 250), width=max(2, W // 150))  # fmt: skip
        for k in range(-8, 9):
            d.line([(W / 2 + k * W / 16, hy), (W / 2 + k * W / 4, H)], fill=(150, 108, 70), width=1)
    elif setting == "street":
        # buildings on the horizon, a road in perspective with lane marks
        x = 0
        while x < W:
            bw = int(rng.uniform(0.06, 0.14) * W)
            bh = int(rng.uniform(0.15, 0.55) * hy)
            shade = int(rng.uniform(110, 170))
            colour = (shade, shade - 6, shade - 14) if not night else (30, 32, 50)
            d.rectangle([x, hy - bh, x + bw, hy], fill=colour)
            for wy in range(hy - bh + 6, hy - 6, 12):
                for wxx in range(x + 4, x + bw - 6, 10):
                    lit = (250, 220, 120) if night and rng.random() < 0.5 else (200, 214, 230)
                    d.rectangle([wxx, wy, wxx + 4, wy + 5], fill=lit)
            x += bw + int(rng.uniform(0, 0.02) * W)
        d.polygon([(W * 0.42, hy), (W * 0.58, hy), (W * 1.3, H), (-W * 0.3, H)],
                  fill=(88, 88, 92) if not night else (40, 40, 46))  # fmt: skip
        for k in range(6):
            t0, t1 = (k / 6) ** 2, ((k + 0.45) / 6) ** 2
            y0, y1 = hy + t0 * (H - hy), hy + t1 * (H - hy)
            d.polygon([(W / 2 - 1 - 4 * t0, y0), (W / 2 + 1 + 4 * t0, y0),
                       (W / 2 + 1 + 4 * t1, y1), (W / 2 - 1 - 4 * t1, y1)],
                      fill=(235, 235, 210))  # fmt: skip
    elif setting == "water":
        for _ in range(40):
            y = hy + (H - hy) * rng.random() ** 1.5
            x = rng.uniform(0, W)
            L = 4 + 24 * (y - hy) / max(H - hy, 1)
            d.line([(x, y), (x + L, y)], fill=(150, 200, 235), width=1)
    elif setting == "forest" or setting == "field":
        n_trees = 24 if setting == "forest" else 5
        for _ in range(n_trees):
            x = rng.uniform(0, W)
            s = rng.uniform(0.05, 0.12 if setting == "forest" else 0.08) * H
            d.rectangle([x - s * 0.08, hy - s * 0.5, x + s * 0.08, hy + 1], fill=(100, 70, 40))
            d.ellipse(
                [x - s * 0.45, hy - s * 1.4, x + s * 0.45, hy - s * 0.35],
                fill=(40 + int(rng.uniform(0, 40)), 110 + int(rng.uniform(0, 40)), 50),
            )
        if setting == "field":
            for _ in range(60):
                y = hy + (H - hy) * rng.random()
                x = rng.uniform(0, W)
                g = 2 + 5 * (y - hy) / max(H - hy, 1)
                d.line([(x, y), (x + g * 0.3, y - g)], fill=(80, 140, 60), width=1)
    if setting != "indoor":
        if night:
            for _ in range(50):
                x, y = rng.uniform(0, W), rng.uniform(0, hy * 0.9)
                d.point((x, y), fill=(240, 240, 220))
        else:  # clouds
            n_clouds = 6 if storm else 3
            for _ in range(n_clouds):
                cx, cy = rng.uniform(0, W), rng.uniform(0.08, 0.5) * hy
                cw = rng.uniform(0.08, 0.18) * W
                tone = (200, 204, 210) if storm else (250, 252, 255)
                for k in range(4):
                    ox = (k - 1.5) * cw * 0.3
                    r = cw * (0.22 + 0.1 * (k % 2))
                    d.ellipse([cx + ox - r, cy - r * 0.7, cx + ox + r, cy + r * 0.7], fill=tone)
        # the horizon line of the camera model
        d.line([(0, hy), (W, hy)], fill=(70, 90, 70) if not night else (20, 24, 40), width=1)
    return np.asarray(im, dtype=np.uint8).copy()

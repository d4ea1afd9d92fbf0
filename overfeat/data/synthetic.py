"""Synthetic images of K shape classes with exact boxes, made on the fly (no disk, no download).

``SyntheticSource(task, split, ...)[i]`` is a pure function of ``(seed, split, i)``: the same
index gives the same image on every machine, process and worker, so the source needs no
preparation and shards trivially. Examples follow the package's data contract:

* ``image``  uint8 [H, W, 3] RGB
* ``boxes``  float32 [N, 4] xyxy pixels; the tight box of each object's VISIBLE pixels: pixel
  ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``, so a shape whose visible pixels
  span columns ``c0..c1`` and rows ``r0..r1`` has the box ``(c0, r0, c1 + 1, r1 + 1)``.
* ``labels`` int32 [N]; ``label`` int32 (``classify``/``localize``: the one object's class).

Tasks:

* ``classify`` and ``localize`` (ImageNet-LOC style): one dominant object, 30-90% of the image
  side by default (``min_scale`` down to 0.15 makes it harder), possibly truncated by the border
  or partly occluded. The two names give the SAME examples (the paper trains its classifier and
  its regressor on the same images).
* ``detect`` (VOC style): 0..``max_objects`` objects of 15-60% of the side, some images empty.

The defaults (``clutter`` 0.25, ``rotation`` 30 degrees, ``min_scale`` 0.3) are set so that the
small nets learn the data on a 2-core CPU in minutes; ``clutter=1``, ``rotation=180``,
``min_scale=0.15`` is a much harder version (NOTES.md has the learning measurements).

What makes it not trivial for a linear model: colour, texture, position, scale, rotation and
aspect carry no class information; only the outline does. Backgrounds are gradients with
noise and distractor strokes; occluders and the border cut objects. Objects are kept at least
``MIN_VISIBLE`` visible so that every label names something one can see.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

TASKS = ("classify", "localize", "detect")
SPLITS = ("train", "validation", "test")
DEFAULT_EXAMPLES = {"train": 10_000, "validation": 1_000, "test": 1_000}

# A part of a shape: a polygon (unit coordinates, about [-1, 1]) drawn with 1 (add) or 0 (cut).
Part = tuple[np.ndarray, int]

# Fraction of each object's whole shape that stays visible (inside the image, not covered).
MIN_VISIBLE = 0.55
# Objects smaller than this many visible pixels are never made (they would be unreadable).
MIN_PIXELS = 24


def _circle(radius: float = 1.0, centre=(0.0, 0.0), vertices: int = 40) -> np.ndarray:
    angles = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)


def _regular(vertices: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(vertices) * 2 * math.pi / vertices
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)


def _poly(*points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)


# The shape families, one per class, in label order. Each is a list of parts in unit
# coordinates (x right, y down). Aspect jitter is kept small (MAX_ASPECT_JITTER) so that a
# disc never becomes an ellipse nor a square a bar.
SHAPES: dict[str, list[Part]] = {
    "disc": [(_circle(1.0), 1)],
    "ring": [(_circle(1.0), 1), (_circle(0.58), 0)],
    "square": [(_poly((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)), 1)],
    "triangle": [(_regular(3, 1.0, -math.pi / 2), 1)],
    "cross": [
        (_poly((-1, -0.3), (1, -0.3), (1, 0.3), (-1, 0.3)), 1),
        (_poly((-0.3, -1), (0.3, -1), (0.3, 1), (-0.3, 1)), 1),
    ],
    "star": [(_star(5, 0.42), 1)],
    "bar": [(_poly((-1, -0.24), (1, -0.24), (1, 0.24), (-1, 0.24)), 1)],
    "crescent": [(_circle(1.0), 1), (_circle(0.85, (0.5, -0.1)), 0)],
    "ellipse": [(_circle(1.0) * np.array([1.0, 0.5]), 1)],
    "arrow": [
        (_poly((-1, -0.17), (0.15, -0.17), (0.15, 0.17), (-1, 0.17)), 1),
        (_poly((0.1, -0.62), (1, 0), (0.1, 0.62)), 1),
    ],
    "hourglass": [
        (_poly((-0.75, -1), (0.75, -1), (0, 0.05)), 1),
        (_poly((-0.75, 1), (0.75, 1), (0, -0.05)), 1),
    ],
    "chevron": [(_poly((-1, -0.8), (0, 0.2), (1, -0.8), (1, -0.15), (0, 0.85),
                       (-1, -0.15)), 1)],
}
CLASS_NAMES: tuple[str, ...] = tuple(SHAPES)
MAX_ASPECT_JITTER = 1.2


def _draw_shape(draw: ImageDraw.ImageDraw, parts: list[Part], centre, stretch, angle) -> None:
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, sin], [-sin, cos]])
    for points, fill in parts:
        xy = (points * stretch) @ rotation + centre
        draw.polygon([tuple(p) for p in xy.tolist()], fill=fill)


def _unit_area(parts: list[Part], radius: int = 256) -> float:
    """A shape's area in unit coordinates, measured on a fine raster (holes and overlapping
    parts make the polygon formula error-prone)."""
    canvas = Image.new("L", (3 * radius, 3 * radius))
    _draw_shape(ImageDraw.Draw(canvas), parts, np.full(2, 1.5 * radius), np.full(2, radius), 0.0)
    return float(np.count_nonzero(np.asarray(canvas))) / radius**2


SHAPE_AREAS = {name: _unit_area(parts) for name, parts in SHAPES.items()}


class Rendering(NamedTuple):
    example: dict
    masks: np.ndarray   # [N, H, W] bool: the pixels where each object is visible
    areas: np.ndarray   # [N] the whole shapes' areas in pixels (inside the image or not)


@dataclasses.dataclass(frozen=True)
class SyntheticSource:
    """A random-access source of synthetic examples: ``len(source)``, ``source[i]``.

    Args:
      task: ``classify``, ``localize`` (same examples) or ``detect``.
      split: ``train``, ``validation`` or ``test``: independent random streams.
      num_examples: the split's length (the data is unbounded; this is what an epoch is).
        Default ``DEFAULT_EXAMPLES[split]``.
      image_size: side of the square images in pixels.
      num_classes: K, the first K of ``CLASS_NAMES`` (at most 12).
      seed: the dataset's seed; example ``i`` depends on ``(seed, split, i)`` only.
      max_objects: ``detect``: the most objects in one image.
      empty_fraction: ``detect``: the probability that an image has no object.
      min_scale, max_scale: object size as a fraction of the image side (the diameter of the
        shape's unit circle). Defaults 0.3-0.9 (classify/localize), 0.15-0.6 (detect).
      clutter: scales the distractor strokes, occluders and pixel noise (0: none; 1: 2-8
        background strokes, 0-3 strokes and a blob 35% of the time over the objects, noise up
        to +-40). Default 0.25.
      rotation: objects turn by up to this many degrees either way (180: any angle).
    """

    task: str = "classify"
    split: str = "train"
    num_examples: int | None = None
    image_size: int = 128
    num_classes: int = 10
    seed: int = 0
    max_objects: int = 5
    empty_fraction: float = 0.1
    min_scale: float | None = None
    max_scale: float | None = None
    clutter: float = 0.25
    rotation: float = 30.0

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"synthetic task must be one of {TASKS}, got {self.task!r}")
        if self.split not in SPLITS:
            raise ValueError(f"synthetic split must be one of {SPLITS}, got {self.split!r}")
        if not 2 <= self.num_classes <= len(CLASS_NAMES):
            raise ValueError(f"num_classes must be in 2..{len(CLASS_NAMES)}, "
                             f"got {self.num_classes}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32, got {self.image_size}")
        if self.num_examples is None:
            object.__setattr__(self, "num_examples", DEFAULT_EXAMPLES[self.split])
        if self.num_examples < 0:
            raise ValueError(f"num_examples must be >= 0, got {self.num_examples}")
        if self.min_scale is None:
            object.__setattr__(self, "min_scale", 0.15 if self.task == "detect" else 0.3)
        if self.max_scale is None:
            object.__setattr__(self, "max_scale", 0.6 if self.task == "detect" else 0.9)
        if not 0 < self.min_scale <= self.max_scale <= 1.5:
            raise ValueError(f"need 0 < min_scale <= max_scale <= 1.5, "
                             f"got {self.min_scale}, {self.max_scale}")
        if not 0 <= self.clutter <= 3:
            raise ValueError(f"clutter must be in 0..3, got {self.clutter}")
        if self.task == "detect" and self.max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {self.max_objects}")

    @property
    def name(self) -> str:
        return f"synthetic/{self.task}"

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[: self.num_classes]

    @property
    def has_label(self) -> bool:
        """Whether examples name their image's class (``label``): all tasks but detect."""
        return self.task != "detect"

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, index: int) -> dict:
        return self.render(index).example

    def rng(self, index: int) -> np.random.Generator:
        """The generator example ``index`` is drawn with (a pure function of seed, split, index).

        classify and localize share their stream on purpose: they are the same examples."""
        stream = zlib.crc32(f"{self.split}/{'detect' if self.task == 'detect' else 'loc'}"
                            .encode())
        return np.random.default_rng([self.seed, stream, index])

    def render(self, index: int) -> Rendering:
        """Example ``index`` with its objects' visible masks and whole areas (for tests)."""
        index = int(index)
        if not 0 <= index < self.num_examples:
            raise IndexError(f"index {index} out of range for {self.num_examples} examples")
        rng = self.rng(index)
        size = self.image_size
        canvas = _background(rng, size, self.clutter)
        if self.task == "detect":
            count = 0 if rng.random() < self.empty_fraction else int(
                rng.integers(1, self.max_objects + 1))
        else:
            count = 1
        labels, masks, areas = [], [], []  # areas: each whole shape's, in pixels
        for _ in range(count):
            label = int(rng.integers(self.num_classes))
            placed = self._place(rng, label, masks, areas, dominant=self.task != "detect")
            if placed is None:
                continue
            mask, area = placed
            _paint(rng, canvas, mask)
            masks = [m & ~mask for m in masks]  # the new object hides what lies under it
            labels.append(label)
            masks.append(mask)
            areas.append(area)
        masks = _occlude(rng, canvas, masks, areas, self.clutter)
        image = _finish(rng, canvas, self.clutter)
        boxes = np.array([_tight_box(m) for m in masks], np.float32).reshape(-1, 4)
        example = {
            "image": image,                                   # [H, W, 3] uint8
            "boxes": boxes,                                   # [N, 4] xyxy
            "labels": np.asarray(labels, np.int32),           # [N]
        }
        if self.task != "detect":
            example["label"] = np.int32(labels[0])
        stacked = np.stack(masks) if masks else np.zeros((0, size, size), bool)
        return Rendering(example, stacked, np.asarray(areas, np.float64))

    def _place(self, rng, label: int, others: list[np.ndarray], areas: list[float],
               dominant: bool) -> tuple[np.ndarray, float] | None:
        """An object's mask ``bool [H, W]`` and whole area, placed so that it and every
        earlier object keep ``MIN_VISIBLE`` of their whole shape visible. ``None`` when a few
        tries fail (detect only: the image gets one object fewer); a dominant object is always
        placed (centred and inside the image at the last try)."""
        size = self.image_size
        name = CLASS_NAMES[label]
        tries = 12
        for attempt in range(tries):
            radius = rng.uniform(self.min_scale, self.max_scale) * size / 2
            aspect = math.exp(rng.uniform(-1, 1) * math.log(MAX_ASPECT_JITTER))
            angle = math.radians(rng.uniform(-self.rotation, self.rotation))
            last = dominant and attempt == tries - 1
            if last:
                centre, radius = np.full(2, size / 2), min(radius, 0.4 * size)
            elif dominant:  # mostly central, sometimes pushed over the border (truncation)
                centre = size * (0.5 + rng.uniform(-0.3, 0.3, 2))
            else:
                centre = rng.uniform(0, size, 2)
            mask, area = _shape_mask(name, size, centre, radius, aspect, angle)
            visible = int(np.count_nonzero(mask))
            if last and visible:
                return mask, float(visible)
            if visible < max(MIN_PIXELS, MIN_VISIBLE * area):
                continue
            if any(_hides_too_much(mask, o, a) for o, a in zip(others, areas, strict=True)):
                continue
            return mask, area
        return None


def _hides_too_much(cover: np.ndarray, mask: np.ndarray, area: float) -> bool:
    """Whether ``cover`` over ``mask`` would leave less than MIN_VISIBLE of the whole shape's
    ``area`` (or fewer than MIN_PIXELS pixels) visible."""
    left = int(np.count_nonzero(mask & ~cover))
    return left < max(MIN_VISIBLE * area, MIN_PIXELS)


def _shape_mask(name: str, size: int, centre, radius: float, aspect: float, angle: float):
    """The shape's pixels inside the image ``bool [H, W]`` and its whole area in pixels."""
    stretch = np.array([radius * math.sqrt(aspect), radius / math.sqrt(aspect)])
    mask = Image.new("L", (size, size))
    _draw_shape(ImageDraw.Draw(mask), SHAPES[name], centre, stretch, angle)
    return np.asarray(mask, dtype=bool), SHAPE_AREAS[name] * stretch[0] * stretch[1]


def _random_colour(rng, avoid: np.ndarray | None = None, distance: float = 110.0) -> np.ndarray:
    """An RGB colour at least ``distance`` (L1) from ``avoid``, so objects stay visible."""
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if avoid is None or np.abs(colour - avoid).sum() >= distance:
            return colour
    return 255.0 - avoid  # the complement is always far enough


def _ramp(rng, height: int, width: int, x0: int = 0, y0: int = 0) -> np.ndarray:
    """A linear ramp 0..1 over a box, in a random direction  # [h, w, 1]"""
    angle = rng.uniform(0, 2 * math.pi)
    ys = (np.arange(height, dtype=np.float32) + y0)[:, None]
    xs = (np.arange(width, dtype=np.float32) + x0)[None, :]
    t = xs * math.cos(angle) + ys * math.sin(angle)
    low, high = t.min(), t.max()
    return ((t - low) / max(high - low, 1e-6))[..., None]


def _background(rng, size: int, clutter: float) -> np.ndarray:
    """A gradient between two colours, with distractor strokes  # [H, W, 3] float32"""
    first, second = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    canvas = (first + _ramp(rng, size, size) * (second - first)).astype(np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for _ in range(round(clutter * rng.integers(2, 9))):
        _draw_clutter(draw, _random_stroke(rng, size), tuple(rng.integers(0, 256, 3).tolist()))
    return np.asarray(image, dtype=np.float32).copy()


def _random_stroke(rng, size: int) -> tuple:
    """A thin line or arc: clutter that no class is made of."""
    width = int(rng.integers(1, 4))
    if rng.random() < 0.6:
        xy = (rng.uniform(-0.1, 1.1, 4) * size).tolist()
        return ("line", [tuple(xy[:2]), tuple(xy[2:])], width)
    centre, radius = rng.uniform(0, size, 2), rng.uniform(0.1, 0.5) * size
    box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
    start = rng.uniform(0, 360)
    return ("arc", box, width, start, start + rng.uniform(30, 150))


def _random_blob(rng, mask: np.ndarray) -> tuple:
    """An irregular pentagon over part of ``mask``'s object."""
    ys, xs = np.nonzero(mask)
    pick = int(rng.integers(len(xs)))
    radius = rng.uniform(0.15, 0.35) * math.sqrt(len(xs))
    angles = np.sort(rng.uniform(0, 2 * math.pi, 5))
    radii = radius * rng.uniform(0.6, 1.2, 5)
    points = np.stack([xs[pick] + radii * np.cos(angles), ys[pick] + radii * np.sin(angles)], 1)
    return ("polygon", [tuple(p) for p in points.tolist()])


def _draw_clutter(draw: ImageDraw.ImageDraw, item: tuple, fill) -> None:
    kind, xy = item[0], item[1]
    if kind == "line":
        draw.line(xy, fill=fill, width=item[2])
    elif kind == "arc":
        draw.arc(xy, item[3], item[4], fill=fill, width=item[2])
    else:
        draw.polygon(xy, fill=fill)


def _paint(rng, canvas: np.ndarray, mask: np.ndarray) -> None:
    """Fill the mask's pixels with a plain, striped or graded colour (in place)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    region, inside = canvas[r0:r1, c0:c1], mask[r0:r1, c0:c1]
    behind = region[inside].mean(0)
    first = _random_colour(rng, behind)
    kind = rng.random()
    if kind < 0.4:
        fill = np.broadcast_to(first.astype(np.float32), region.shape)
    else:
        second = _random_colour(rng, behind)
        if kind < 0.7:  # stripes of a random period and direction
            period = rng.uniform(3, 10)
            t = _ramp(rng, r1 - r0, c1 - c0, c0, r0) * math.hypot(r1 - r0, c1 - c0) / period
            t = (t % 1.0 < 0.5).astype(np.float32)
        else:
            t = _ramp(rng, r1 - r0, c1 - c0, c0, r0)
        fill = first + t * (second - first)
    region[inside] = fill[inside]


def _occlude(rng, canvas: np.ndarray, masks: list[np.ndarray], areas: list[float],
             clutter: float) -> list[np.ndarray]:
    """Draw occluders (strokes, sometimes a blob) over the objects; an occluder that would
    leave an object less than MIN_VISIBLE visible is not drawn. Returns the visible masks."""
    size = canvas.shape[0]
    items = [_random_stroke(rng, size) for _ in range(round(clutter * rng.integers(0, 4)))]
    if masks and rng.random() < 0.35 * clutter:
        items.append(_random_blob(rng, masks[int(rng.integers(len(masks)))]))
    image = None
    for item in items:
        colour = tuple(rng.integers(0, 256, 3).tolist())
        cover = Image.new("L", (size, size))
        _draw_clutter(ImageDraw.Draw(cover), item, 1)
        cover = np.asarray(cover, dtype=bool)
        if any(_hides_too_much(cover, m, a) for m, a in zip(masks, areas, strict=True)):
            continue
        if image is None:
            image = Image.fromarray(canvas.astype(np.uint8))
        _draw_clutter(ImageDraw.Draw(image), item, colour)
        masks = [mask & ~cover for mask in masks]
    if image is not None:
        canvas[...] = np.asarray(image, dtype=np.float32)
    return masks


def _finish(rng, canvas: np.ndarray, clutter: float) -> np.ndarray:
    """Add pixel noise of a random strength and quantize  # [H, W, 3] uint8"""
    amplitude = rng.uniform(0, 40) * clutter
    noise = np.frombuffer(rng.bytes(canvas.size), np.uint8).reshape(canvas.shape)
    noisy = canvas + (noise.astype(np.float32) - 127.5) * (amplitude / 127.5)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _tight_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)

"""Pictures of predictions (Pillow): boxes with labels, class heat maps per scale, and the
boxes of every scale before and after merging (the paper's Fig. 6 and 7).

Everything takes the ORIGINAL image (``uint8 [H, W, 3]`` or a PIL image) and the arrays of
``overfeat.predict`` (boxes xyxy in original pixels) and returns a PIL image; nothing is
written here. Figures of several panels shrink each panel to ``panel_side`` pixels on its
longer side, so that they stay readable whatever the image's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# 20 distinguishable colours (Tableau 20, dark and light alternating), one per label mod 20.
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip

# Anchors of a perceptually ordered dark-to-bright map (after matplotlib's "inferno").
_HEAT_ANCHORS = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
     [250, 193, 39], [252, 255, 164]], np.float64,
)  # fmt: skip


def label_color(label: int) -> tuple[int, int, int]:
    return PALETTE[int(label) % len(PALETTE)]


def heat_colors(values) -> np.ndarray:
    """``values`` in [0, 1] (clipped) -> ``uint8 [..., 3]`` colours, dark to bright."""
    position = np.clip(np.asarray(values, np.float64), 0, 1) * (len(_HEAT_ANCHORS) - 1)
    low = np.minimum(np.floor(position).astype(int), len(_HEAT_ANCHORS) - 2)
    fraction = (position - low)[..., None]
    colors = _HEAT_ANCHORS[low] * (1 - fraction) + _HEAT_ANCHORS[low + 1] * fraction
    return np.rint(colors).astype(np.uint8)


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ValueError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def as_pil(image) -> Image.Image:
    """``[H, W, 3]`` array (0..255) or PIL image -> an RGB PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {array.shape}")
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def fit(image: Image.Image, side: int | None) -> tuple[Image.Image, float]:
    """``image`` resized to ``side`` pixels on its longer side, and the factor applied."""
    if side is None or max(image.size) == side:
        return image.copy(), 1.0
    factor = side / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR), factor


def _caption(label: int, score: float | None, class_names: Sequence[str] | None) -> str:
    name = class_names[label] if class_names is not None else f"class {label}"
    return name if score is None else f"{name} {score:.2f}"


def confident(prediction: Mapping, score_threshold: float, most: int = 6):
    """The boxes worth drawing: at most ``most``, each scoring >= ``score_threshold`` (scores
    are calibrated to [0, 1]: ``overfeat.predict.calibrated_scores``; an evaluation's list
    holds every box, scored down to 0)."""
    scores = np.asarray(prediction["scores"], np.float64)
    if not len(scores):
        return np.zeros((0, 4)), np.zeros(0, np.int32), scores
    keep = np.flatnonzero(scores >= score_threshold)[:most]
    return (np.asarray(prediction["boxes"])[keep], np.asarray(prediction["labels"])[keep],
            scores[keep])


def draw_boxes(
    image,
    boxes,
    labels,
    scores=None,
    *,
    class_names: Sequence[str] | None = None,
    captions: bool = True,
    opacity=None,
    width: int = 2,
    factor: float = 1.0,
) -> Image.Image:
    """``boxes [K, 4]`` (xyxy, in ``image``'s pixels divided by ``factor``) drawn in their
    label's colour, with ``"name score"`` captions. ``opacity [K]`` in [0, 1] fades boxes
    (e.g. by confidence); the first box is drawn last (on top)."""
    canvas = as_pil(image).convert("RGBA")
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = _font()
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4) * factor
    labels = np.asarray(labels).reshape(-1)
    scores = None if scores is None else np.asarray(scores).reshape(-1)
    alphas = np.ones(len(boxes)) if opacity is None else np.clip(np.asarray(opacity), 0, 1)
    for index in reversed(range(len(boxes))):
        x1, y1, x2, y2 = boxes[index]
        if not (x2 > x1 and y2 > y1):
            continue  # a degenerate box has nothing to show
        color = (*label_color(labels[index]), int(round(255 * alphas[index])))
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        if captions:
            text = _caption(int(labels[index]), None if scores is None else scores[index],
                            class_names)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            y = y1 - (bottom - top) - 4 if y1 >= (bottom - top) + 4 else y1  # above if room
            draw.rectangle((x1, y, x1 + right - left + 4, y + bottom - top + 4), fill=color)
            draw.text((x1 + 2 - left, y + 2 - top), text, fill=(255, 255, 255, 255), font=font)
    return Image.alpha_composite(canvas, layer).convert("RGB")


def draw_classification(
    image, labels, scores, *, class_names: Sequence[str] | None = None
) -> Image.Image:
    """The ranked classes written in the image's top-left corner on a dark band."""
    canvas = as_pil(image)
    draw = ImageDraw.Draw(canvas)
    font = _font(13)
    lines = [
        f"{rank}. {_caption(int(label), float(score), class_names)}"
        for rank, (label, score) in enumerate(zip(labels, scores, strict=True), 1)
    ]
    heights = [draw.textbbox((0, 0), line, font=font) for line in lines]
    width = max((box[2] for box in heights), default=0) + 8
    height = sum(box[3] - box[1] + 4 for box in heights) + 6
    draw.rectangle((0, 0, width, height), fill=(0, 0, 0))
    y = 3
    for line, box in zip(lines, heights, strict=True):
        draw.text((4, y - box[1]), line, fill=(255, 255, 255), font=font)
        y += box[3] - box[1] + 4
    return canvas


def heatmap_overlay(image, probabilities, windows, *, opacity: float = 0.65,
                    factor: float = 1.0) -> Image.Image:
    """One class's probability map over the image: each output cell a rectangle of one
    cell pitch centred on its window's centre (``windows [h, w, 4]`` xyxy original pixels,
    from ``predict``'s maps), coloured by ``probabilities [h, w]`` (0 dark, 1 bright). A
    map of one cell fills its window."""
    canvas = as_pil(image).convert("RGBA")
    probabilities = np.asarray(probabilities)
    windows = np.asarray(windows, np.float64) * factor  # [h, w, 4]
    rows, cols = probabilities.shape
    centres_x = (windows[..., 0] + windows[..., 2]) / 2
    centres_y = (windows[..., 1] + windows[..., 3]) / 2
    pitch_x = (np.abs(centres_x[0, 1] - centres_x[0, 0]) if cols > 1
               else windows[0, 0, 2] - windows[0, 0, 0])
    pitch_y = (np.abs(centres_y[1, 0] - centres_y[0, 0]) if rows > 1
               else windows[0, 0, 3] - windows[0, 0, 1])
    colors = heat_colors(probabilities)  # [h, w, 3]
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    alpha = int(round(255 * opacity))
    for i in range(rows):
        for j in range(cols):
            x, y = centres_x[i, j], centres_y[i, j]
            draw.rectangle(
                (x - pitch_x / 2, y - pitch_y / 2, x + pitch_x / 2, y + pitch_y / 2),
                fill=(*map(int, colors[i, j]), alpha),
            )
    return Image.alpha_composite(canvas, layer).convert("RGB")


def grid(
    panels: Sequence[tuple[str, Image.Image]], columns: int, *, title: str | None = None
) -> Image.Image:
    """Panels with a caption above each, ``columns`` per row, on white, under ``title``."""
    font, title_font = _font(12), _font(15)
    caption_height, header = 18, (26 if title else 0)
    cell_w = max(panel.width for _, panel in panels) + 8
    cell_h = max(panel.height for _, panel in panels) + caption_height + 8
    rows = -(-len(panels) // columns)
    size = (cell_w * min(columns, len(panels)), cell_h * rows + header)
    sheet = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 4), title, fill=(0, 0, 0), font=title_font)
    for index, (caption, panel) in enumerate(panels):
        x, y = (index % columns) * cell_w + 4, (index // columns) * cell_h + 4 + header
        draw.text((x, y), caption, fill=(0, 0, 0), font=font)
        sheet.paste(panel, (x, y + caption_height))
    return sheet


def heatmap_figure(
    image,
    maps: Sequence[dict],
    label: int,
    *,
    class_names: Sequence[str] | None = None,
    panel_side: int | None = 320,
) -> Image.Image:
    """The probability map of class ``label`` at every scale (columns) and flip (rows):
    ``maps`` is ``predict``'s ``result["maps"]``. Fig. 6's first two diagrams."""
    base, factor = fit(as_pil(image), panel_side)
    name = _caption(label, None, class_names)
    panels = []
    for flipped in (False, True):
        for entry in maps:
            if entry["flipped"] != flipped:
                continue
            probabilities = np.asarray(entry["probabilities"])[..., label]  # [h, w]
            height, width = entry["size"]
            caption = (f"scale {entry['scale']} ({height}x{width}){' flipped' if flipped else ''}"
                       f", max {probabilities.max():.2f}")
            overlay = heatmap_overlay(base, probabilities, entry["windows"], factor=factor)
            panels.append((caption, overlay))
    columns = len({entry["scale"] for entry in maps})
    title = f"probability of {name} per output cell (dark 0, bright 1)"
    return grid(panels, columns, title=title)


def scales_figure(
    image,
    result: dict,
    *,
    class_names: Sequence[str] | None = None,
    panel_side: int | None = 320,
    final_boxes: int = 5,
) -> Image.Image:
    """Every box before merging, one panel per scale (both flips, each box faded by its
    confidence relative to the image's best), then all scales together, then the
    ``final_boxes`` best boxes after merging: Fig. 7 and Fig. 6's last two diagrams.
    ``result`` needs ``return_maps=True``'s ``candidates``."""
    if "candidates" not in result:
        raise ValueError("the result holds no candidates: predict with return_maps=True")
    base, factor = fit(as_pil(image), panel_side)
    candidates = result["candidates"]
    scores = np.asarray(candidates["scores"], np.float64)
    best = scores.max() if len(scores) and scores.max() > 0 else 1.0
    opacity = 0.1 + 0.9 * scores / best
    panels = []
    for scale in sorted(set(np.asarray(candidates["scale"]).tolist())):
        chosen = np.asarray(candidates["scale"]) == scale
        picture = draw_boxes(base, candidates["boxes"][chosen], candidates["labels"][chosen],
                             captions=False, opacity=opacity[chosen], width=1, factor=factor)
        panels.append((f"scale {scale}: {int(chosen.sum())} boxes", picture))
    panels.append((f"all scales: {len(scores)} boxes", draw_boxes(
        base, candidates["boxes"], candidates["labels"], captions=False, opacity=opacity,
        width=1, factor=factor)))
    shown = min(final_boxes, len(result["boxes"]))
    panels.append((f"merged: best {shown} of {len(result['boxes'])}", draw_boxes(
        base, result["boxes"][:shown], result["labels"][:shown], result["scores"][:shown],
        class_names=class_names, factor=factor)))
    title = "boxes of every scale (faded by confidence), then merged"
    return grid(panels, min(4, len(panels)), title=title)

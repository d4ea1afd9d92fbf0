"""Joint image + box transforms: boxes follow the pixels, and are clipped or dropped honestly."""

from __future__ import annotations

import numpy as np
import pytest

from overfeat.data import transforms

RED = (255, 0, 0)


def _scene(height=90, width=120, rects=((20, 30, 60, 70),), labels=None) -> dict:
    """A grey image with solid red rectangles (xyxy, integer pixel edges) and their boxes."""
    image = np.full((height, width, 3), 90, np.uint8)
    for x0, y0, x1, y1 in rects:
        image[y0:y1, x0:x1] = RED
    count = len(rects)
    return {
        "image": image,
        "label": np.int32(3),
        "boxes": np.array(rects, np.float32).reshape(-1, 4),
        "labels": np.asarray(labels if labels is not None else range(count), np.int32),
        "ignore": np.arange(count) % 2 == 1,
    }


def _find_red(image: np.ndarray) -> list[float]:
    """The box (pixel edges) of the pixels that are mostly red."""
    red = (image[..., 0] > 170) & (image[..., 1] < 85)
    rows, cols = np.nonzero(red)
    return [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_flip_twice_is_the_identity_and_flip_mirrors_boxes():
    example = _scene()
    once = transforms.horizontal_flip(example)
    assert once["boxes"].tolist() == [[120 - 60, 30, 120 - 20, 70]]
    assert _find_red(once["image"]) == once["boxes"][0].tolist()
    twice = transforms.horizontal_flip(once)
    for key in example:
        np.testing.assert_array_equal(twice[key], example[key], err_msg=key)


@pytest.mark.parametrize("name", ["resize", "shorter", "longer", "crop", "center", "random",
                                  "scaled", "fit"])
def test_boxes_follow_the_pixels(name):
    example = _scene()
    rng = np.random.default_rng(0)
    out = {
        "resize": lambda: transforms.resize(example, 45, 240),
        "shorter": lambda: transforms.resize_shorter_side(example, 64),
        "longer": lambda: transforms.resize_longer_side(example, 200),
        "crop": lambda: transforms.crop(example, 10, 5, 70, 80),
        "center": lambda: transforms.center_crop(example, 64, 64),
        "random": lambda: transforms.random_crop(example, rng, 80, 100),
        "scaled": lambda: transforms.random_scaled_crop(example, rng, 140, 120, 120),
        "fit": lambda: transforms.fit_and_pad(example, 150)[0],
    }[name]()
    assert len(out["boxes"]) == 1, "the rectangle stays inside in all of these"
    # Resampling blurs edges by at most a pixel: the red pixels sit at the box within 1 px.
    np.testing.assert_allclose(_find_red(out["image"]), out["boxes"][0], atol=1.0)
    assert out["label"] == 3 and out["labels"].tolist() == [0]


def test_resized_crop_equals_resize_then_crop():
    rng = np.random.default_rng(1)
    example = {"image": rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)}
    # Shorter side 60 -> 90 (x1.5), then the 50x50 window at (top=10, left=20).
    two_steps = transforms.crop(transforms.resize(example, 90, 120), 10, 20, 50, 50)
    one_step = transforms.resized_crop(example, (20 / 1.5, 10 / 1.5, 70 / 1.5, 60 / 1.5), 50, 50)
    inner = (slice(2, -2), slice(2, -2))  # at the window's edge the filters see other pixels
    difference = np.abs(two_steps["image"][inner].astype(int) - one_step["image"][inner])
    assert difference.max() <= 2


def test_crops_clip_boxes_and_drop_those_mostly_outside_with_their_fields():
    # Box 0 keeps 50% of its area in the window, box 1 keeps 20%, box 2 none.
    example = _scene(rects=((0, 0, 20, 10), (40, 0, 60, 10), (0, 50, 10, 60)), labels=(4, 5, 6))
    out = transforms.crop(example, 0, 10, 40, 34)  # x in [10, 44), y in [0, 40)
    assert out["boxes"].tolist() == [[0, 0, 10, 10]]
    assert out["labels"].tolist() == [4] and out["ignore"].tolist() == [False]
    keep_more = transforms.crop(example, 0, 10, 40, 34, min_visible=0.1)
    assert keep_more["labels"].tolist() == [4, 5]
    assert keep_more["boxes"].tolist() == [[0, 0, 10, 10], [30, 0, 34, 10]]
    assert keep_more["ignore"].tolist() == [False, True]
    assert transforms.DEFAULT_MIN_VISIBLE == 0.3


def test_random_transforms_are_pure_functions_of_example_and_rng():
    example = _scene()
    before = {key: np.copy(value) for key, value in example.items()}
    outs = [transforms.random_scaled_crop(example, np.random.default_rng(5), 100, 64, 64)
            for _ in range(2)]
    for key in outs[0]:
        np.testing.assert_array_equal(outs[0][key], outs[1][key])
    for key in example:  # the input is not modified
        np.testing.assert_array_equal(example[key], before[key])
    flips = {bool(transforms.random_horizontal_flip(example, np.random.default_rng(s))
                  ["boxes"][0, 0] != 20) for s in range(20)}
    assert flips == {True, False}


def test_scaled_crop_keeps_the_labelled_object():
    # A small object in a corner: plain random windows often lose it; keep_label never does.
    example = _scene(height=200, width=200, rects=((0, 0, 16, 16),), labels=(7,))
    lost = kept = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        lost += len(transforms.random_scaled_crop(example, rng, 200, 120, 120)["labels"]) == 0
        rng = np.random.default_rng(seed)
        out = transforms.random_scaled_crop(example, rng, 200, 120, 120, keep_label=7)
        kept += out["labels"].tolist() == [7]
    assert lost > 5 and kept == 30


def test_pad_and_fit_keep_boxes_in_place():
    out, scale = transforms.fit_and_pad(_scene(height=90, width=120), 60)
    assert scale == 0.5 and out["image"].shape == (60, 60, 3)
    assert out["boxes"].tolist() == [[10, 15, 30, 35]]
    assert (out["image"][45:] == 0).all()  # padding below the 45-pixel-high picture


def test_errors_name_the_problem():
    example = _scene()
    with pytest.raises(ValueError, match="cannot crop 100x100 from a 90x120"):
        transforms.random_crop(example, np.random.default_rng(0), 100, 100)
    with pytest.raises(ValueError, match="does not fit"):
        transforms.crop(example, 50, 0, 50, 50)
    with pytest.raises(ValueError, match="non-empty box"):
        transforms.resized_crop(example, (10, 10, 10, 20), 5, 5)


def test_classification_sizes_follow_the_paper():
    assert transforms.classification_resize_size(221) == 256
    assert transforms.classification_resize_size(231) == 256
    assert transforms.classification_resize_size(87) == 101  # ceil(87 * 256 / 221)
    assert transforms.classification_resize_size(59) == 69

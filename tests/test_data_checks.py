"""Bad data: broken images and impossible boxes end as clear errors, never as wrong labels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from overfeat.data.checks import BadExampleError, check_example, decode_image, image_size


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, **options)
    return buffer.getvalue()


def _gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)),
                          np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 60, np.float32)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


def test_cmyk_grayscale_and_png_decode_to_the_same_rgb():
    reference = np.asarray(_gradient(), np.int32)
    for data in (_jpeg(_gradient()), _jpeg(_gradient().convert("CMYK"))):
        decoded = decode_image(data)
        assert decoded.shape == (48, 64, 3) and decoded.dtype == np.uint8
        assert np.abs(decoded.astype(np.int32) - reference).mean() < 4
    grey = decode_image(_jpeg(_gradient().convert("L")))
    assert grey.shape == (48, 64, 3) and (grey[..., 0] == grey[..., 2]).all()
    png = io.BytesIO()
    _gradient().convert("RGBA").save(png, format="PNG")
    np.testing.assert_array_equal(decode_image(png.getvalue()), reference)
    assert image_size(_jpeg(_gradient())) == (48, 64)


def test_draft_decoding_shrinks_jpegs_but_keeps_the_requested_side():
    data = _jpeg(_gradient(400, 300))
    assert decode_image(data, min_shorter_side=70).shape == (75, 100, 3)  # DCT scale 1/4
    assert decode_image(data, min_shorter_side=151).shape == (300, 400, 3)


@pytest.mark.parametrize(("data", "message"), [
    (_jpeg(_gradient())[:300], "cannot decode"),        # truncated in the middle of the scan
    (b"\xff\xd8\xff\xe0 not really a jpeg", "cannot decode"),
    (b"", "cannot decode"),
])
def test_broken_images_are_errors_naming_the_file(data, message):
    with pytest.raises(BadExampleError, match=f"n01440764_10026.JPEG: {message}"):
        decode_image(data, name="n01440764_10026.JPEG")


def _example(boxes, labels=None, height=40, width=50, **extra):
    boxes = np.asarray(boxes, np.float32)
    return {"image": np.zeros((height, width, 3), np.uint8), "boxes": boxes,
            "labels": np.zeros(len(boxes), np.int32) if labels is None else labels, **extra}


@pytest.mark.parametrize(("example", "message"), [
    (_example([[10, 10, 10, 20]]), "box 0 is empty or inverted"),
    (_example([[0, 0, 5, 5], [30, 10, 20, 20]]), "box 1 is empty or inverted"),
    (_example([[10, 10, 80, 20]]), "box 0 .* lies outside the 50x40 image"),
    (_example([[-0.8, 0, -0.2, 5]]), "box 0 .* has no area inside"),
    (_example([[0, 0, np.nan, 5]]), "box 0 is not finite"),
    (_example([[0, 0, 5, 5]], labels=np.array([0, 1], np.int32)), "labels has shape"),
    (_example([[0, 0, 5, 5]], labels=np.array([7], np.int32)), r"labels \[7\] outside 0..4"),
    (_example([[0, 0, 5, 5]], label=np.int32(-1)), r"label -1 outside 0..4"),
    (_example([[0, 0, 5, 5]], labels=np.array([0.5], np.float32)), "must be integers"),
    ({"image": np.zeros((40, 50), np.uint8)}, r"uint8 \[H, W, 3\] RGB, got uint8 \(40, 50\)"),
    ({"image": np.zeros((4, 5, 3), np.float32)}, "got float32"),
    (_example(np.zeros((2, 3)), labels=np.zeros(2, np.int32)), r"boxes must be \[N, 4\]"),
])
def test_impossible_examples_are_errors_naming_the_example(example, message):
    with pytest.raises(BadExampleError, match=f"voc/2007\\[12\\]: .*{message}"):
        check_example(example, name="voc/2007[12]", num_classes=5)


def test_boxes_within_a_pixel_of_the_border_are_clipped_not_refused():
    example = _example([[-0.5, 0, 50.75, 40.5]], ignore=np.array([True]))
    checked = check_example(example, num_classes=5)
    assert checked["boxes"].tolist() == [[0, 0, 50, 40]]
    assert checked["ignore"].tolist() == [True]
    assert example["boxes"][0, 0] == -0.5  # the input is left alone
    empty = check_example(_example(np.zeros(0)))
    assert empty["boxes"].shape == (0, 4)

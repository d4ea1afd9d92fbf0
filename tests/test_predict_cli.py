"""``overfeat classify | localize | detect`` end to end on a small saved checkpoint: printed
results, JSON equal to the Python API's, pictures written."""

from __future__ import annotations

import argparse
import contextlib
import json

import numpy as np
import pytest
from PIL import Image
from random_models import random_model

from overfeat import cli, weights
from overfeat.commands.prediction import parse_scales
from overfeat.predict import Predictor

NAMES = ["ant", "bee", "background"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An accurate_small detector checkpoint (shared regressor, background last) and two
    images of different sizes."""
    root = tmp_path_factory.mktemp("predict_cli")
    model = random_model("accurate_small", num_classes=3, regressor="shared", seed=11)
    last = model.regressor.reg3  # boxes near their windows, as a trained regressor's
    last.kernel[...] = last.kernel[...] * 0.02
    last.bias[...] = np.array([0.1, 0.1, -0.1, -0.1], np.float32)
    checkpoint = weights.save_model(model, root / "ckpt", class_names=NAMES,
                                    background_class=True)
    rng = np.random.default_rng(12)
    images = []
    for name, shape in (("a.png", (100, 140)), ("b.jpg", (120, 90))):
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(root / name)
        images.append(str(root / name))
    return root, str(checkpoint), images


def test_localize_and_detect_write_json_and_pictures(setup, capsys):
    root, checkpoint, images = setup
    predictor = Predictor.from_checkpoint(checkpoint)
    for task, extra, options in (
        ("localize", [], dict(max_boxes=5)),
        ("detect", ["--score-threshold", "0.2", "--merge-threshold", "0.4"],
         dict(score_threshold=0.2, merge_params={"threshold": 0.4}, max_boxes=100)),
    ):
        out, pictures = root / f"{task}.json", root / task
        assert cli.main([task, *images, "--checkpoint", checkpoint, "--scales", "1,2",
                         "--json", str(out), "--draw", str(pictures), "--heatmaps",
                         "--per-scale", *extra]) == 0
        document = json.loads(out.read_text())
        assert document["task"] == task and document["options"]["scales"] == [1, 2]
        expected = getattr(predictor, task)(images, scales=(1, 2), **options)
        printed = capsys.readouterr().out.splitlines()
        assert printed[0].startswith(f"{images[0]} (100x140): {len(expected[0]['labels'])} boxes")
        for record, result, image in zip(document["images"], expected, images, strict=True):
            assert record["image"] == image
            assert record["labels"] == result["labels"].tolist()
            assert record["class_names"] == [NAMES[i] for i in record["labels"]]
            assert "background" not in record["class_names"]
            np.testing.assert_allclose(record["scores"], result["scores"], rtol=1e-6)
            np.testing.assert_allclose(np.reshape(record["boxes"], (-1, 4)), result["boxes"],
                                       rtol=1e-5, atol=1e-4)
        for stem, size in (("a", (140, 100)), ("b", (90, 120))):
            with Image.open(pictures / f"{stem}.png") as picture:
                # the image with its boxes, enlarged to 384 pixels on its longer side
                assert picture.size == tuple(round(side * 384 / max(size)) for side in size)
            # panels 320 pixels on the longer side, 8 apart, an 18-pixel caption above each
            # and a 26-pixel title: heat maps 2 scales x 2 flips; boxes of scale 1, scale 2,
            # all scales, merged
            panel = [round(side * 320 / max(size)) for side in size]
            for suffix, (columns, rows) in (("_heatmaps", (2, 2)), ("_scales", (4, 1))):
                with Image.open(pictures / f"{stem}{suffix}.png") as figure:
                    assert figure.size == (columns * (panel[0] + 8),
                                           rows * (panel[1] + 26) + 26)


def test_classify_multi_scale_and_center(setup, capsys):
    root, checkpoint, images = setup
    out = root / "classify.json"
    assert cli.main(["classify", images[1], "--checkpoint", checkpoint, "--scales", "2",
                     "--stride", "coarse", "--no-flips", "--top", "2", "--json", str(out),
                     "--draw", str(root / "classify"), "--heatmaps"]) == 0
    expected = Predictor.from_checkpoint(checkpoint).classify(
        images[1], scales=(2,), stride="coarse", flips=False, top=2)
    record = json.loads(out.read_text())["images"][0]
    assert record["labels"] == expected["labels"].tolist()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"  1. {expected['scores'][0]:.4f}  {NAMES[expected['labels'][0]]}"
    assert (root / "classify" / "b.png").is_file()
    assert (root / "classify" / "b_heatmaps.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["localize", "--scales", "center"], "runs on scales 1..6"),
    (["detect", "--per-scale"], "give --draw DIR"),
    (["localize", "--merge", "nms", "--distance-weight", "2"], "option of --merge greedy"),
    (["classify", "--scales", "7"], "distinct numbers in 1..6"),
])
def test_errors(setup, capsys, args, message):
    _, checkpoint, images = setup
    with pytest.raises(SystemExit) if "7" in args else contextlib.nullcontext():
        status = cli.main([args[0], images[0], "--checkpoint", checkpoint, *args[1:]])
        assert status == 2
    assert message in capsys.readouterr().err


def test_parse_scales():
    assert parse_scales("1-6") == (1, 2, 3, 4, 5, 6)
    assert parse_scales("1,2,4,6") == (1, 2, 4, 6)
    assert parse_scales("6,1-2") == (1, 2, 6)
    assert parse_scales("center") == "center"
    for bad in ("0-2", "1,1", "a", "", "3-"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_scales(bad)

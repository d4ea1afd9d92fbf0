"""The sliding-window flow (issue 13, point 5): a classifier with a background class and no
box regressor detects by boxing each confident cell with its own window and merging them.

The network is set by hand, not trained: every kernel averages its inputs (all weights
1 / fan-in, no bias) on pixels normalised to [-1, 1], so a unit is positive only where its
field is mostly bright, and the last layer makes "square" (class 1) win where the features
average above 0.5. So a cell is "square" where its window holds the bright square and
background over black or grey."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from flax import nnx
from random_models import random_model

from overfeat import cli, weights
from overfeat.boxes import iou_xyxy
from overfeat.predict import Predictor

NAMES = ["Background", "square"]  # image-folder classes: sorted folder names, no flag
SQUARE = np.array([56, 40, 104, 88], np.float32)  # xyxy in a 128 x 128 frame


def _brightness_classifier():
    model = random_model("fast_small", num_classes=2, mean=128.0, std=128.0)
    graphdef, state = nnx.split(model)

    def averaging(path, leaf):
        name = path[-1].key
        if name == "kernel":  # HWIO
            return jax.numpy.full(leaf.shape, 1 / np.prod(leaf.shape[:-1]), np.float32)
        return jax.numpy.zeros(leaf.shape, np.float32) if name == "bias" else leaf

    nnx.replace_by_pure_dict(
        state, jax.tree_util.tree_map_with_path(averaging, nnx.to_pure_dict(state)))
    model = nnx.merge(graphdef, state)
    last = getattr(model.classifier, model.classifier.names[-1])
    kernel = np.zeros(last.kernel.shape, np.float32)
    kernel[..., 1] = 20 / kernel.shape[-2]  # square: 20 x the mean feature - 10
    last.kernel[...] = kernel
    last.bias[...] = np.array([0.0, -10.0], np.float32)
    return model


@pytest.fixture(scope="module")
def classifier():
    return _brightness_classifier()


def _frames():
    black = np.zeros((128, 128, 3), np.uint8)
    square = black.copy()
    square[40:88, 56:104] = 255
    return square, black, np.full_like(black, 100)


def test_windows_of_confident_cells_merge_into_a_box_on_the_object(classifier):
    predictor = Predictor(classifier, class_names=NAMES)
    assert predictor.background_index == 0  # by its name, any case
    square, black, grey = _frames()
    found = predictor.detect(square, return_maps=True)
    assert found["regressor"] is False
    assert len(found["boxes"]) and found["class_names"] == ["square"] * len(found["boxes"])
    assert iou_xyxy(found["boxes"][:1], SQUARE[None])[0, 0] >= 0.5
    assert (iou_xyxy(found["boxes"], SQUARE[None]) > 0).all()  # nothing away from it
    # every candidate box is its cell's window, and only cells holding the square gave one
    candidates, maps = found["candidates"], found["maps"]
    for box, scale, flipped, (row, col), score in zip(
        candidates["boxes"], candidates["scale"], candidates["flipped"], candidates["cell"],
        candidates["scores"], strict=True,
    ):
        (entry,) = [m for m in maps if m["scale"] == scale and m["flipped"] == flipped]
        np.testing.assert_allclose(box, entry["windows"][row, col], atol=1e-4)
        assert score == pytest.approx(entry["probabilities"][row, col, 1], rel=1e-5)
        if score >= 0.01:  # detect's min_confidence: entered the merge
            assert iou_xyxy(box[None], SQUARE[None])[0, 0] > 0
    np.testing.assert_allclose(  # the sum over 5% of the 412 votes possible (test_predict)
        found["scores"], found["summed_scores"] / (found["summed_scores"] + 20.6), rtol=1e-5)
    for frame in (black, grey):
        nothing = predictor.detect(frame)
        assert nothing["boxes"].shape == (0, 4) and nothing["regressor"] is False


def test_which_class_is_the_background(classifier):
    flagged = Predictor(classifier, class_names=["square", "other"], background_class=True)
    assert flagged.background_index == 1  # the checkpoint's flag: the last class
    named = Predictor(classifier, class_names=["square", "BACKGROUND"])
    assert named.background_index == 1
    with pytest.raises(ValueError, match=r"duplicate_iou must be in \(0, 1\] or None, got 0"):
        named.detect(_frames()[0], duplicate_iou=0)
    with pytest.raises(ValueError, match="all named 'background'"):
        Predictor(classifier, class_names=["background", "Background"])
    neither = Predictor(classifier, class_names=["square", "disc"])
    assert neither.background_index is None
    with pytest.raises(ValueError, match="or a classifier with a background class"):
        neither.detect(_frames()[0])


def test_detect_command_says_no_regressor_was_used(classifier, tmp_path, capsys):
    from PIL import Image

    checkpoint = weights.save_model(classifier, tmp_path / "ckpt", class_names=NAMES)
    square, black, _ = _frames()
    paths = []
    for name, frame in (("square.png", square), ("black.png", black)):
        Image.fromarray(frame).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    out = tmp_path / "found.json"
    assert cli.main(["detect", *paths, "--checkpoint", str(checkpoint), "--scales", "5,6",
                     "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no box regressor" in err and "'Background' is the background" in err
    records = json.loads(out.read_text())["images"]
    assert [r["regressor"] for r in records] == [False, False]
    assert len(records[0]["boxes"]) and records[1]["boxes"] == []
    summed = np.array(records[0]["summed_scores"])
    # scales 5 and 6: 8x8 and 9x9 cells, 64 of each hold a point, mirrored: 256 votes
    np.testing.assert_allclose(records[0]["scores"], summed / (summed + 12.8), rtol=1e-5)
    bare = weights.save_model(classifier, tmp_path / "bare", class_names=["square", "disc"])
    assert cli.main(["detect", paths[0], "--checkpoint", str(bare)]) == 2
    assert "has neither" in capsys.readouterr().err

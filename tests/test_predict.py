"""The inference API (``overfeat.predict``): multi-scale classification against a hand
computation from the dense maps, boxes mapped back to the image by hand, the accumulator on a
regressor set by hand, the background class, and the bound on compiled programs."""

from __future__ import annotations

import numpy as np
import pytest
from random_models import random_model

from overfeat import dense, merge, scales
from overfeat.architectures import FAST_SMALL
from overfeat.features import FeatureExtractor
from overfeat.images import resize_image
from overfeat.predict import (
    Predictor,
    _merge_candidates,
    calibrated_scores,
    class_probabilities,
    classification_view,
    possible_votes,
    to_json,
)

FAST = "fast_small"  # view 59, fine stride 8, coarse stride 16


def _images(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for shape in shapes]


def _softmax(logits):
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _set_output_layer(head, kernel_scale: float, bias) -> None:
    """The head's last layer: kernel multiplied by ``kernel_scale``, bias set."""
    last = getattr(head, head.names[-1])
    last.kernel[...] = last.kernel[...] * kernel_scale
    last.bias[...] = np.asarray(bias, np.float32)


@pytest.fixture(scope="module")
def classifier():
    return random_model(FAST, num_classes=5, seed=3)


@pytest.mark.parametrize(
    "chosen, stride, flips", [((1, 3), "fine", True), ((2,), "coarse", False)]
)
def test_classify_equals_the_hand_computation(classifier, chosen, stride, flips):
    """Softmax per cell, spatial max per class at each scale and flip, mean, top-k."""
    predictor = Predictor(classifier)
    images = _images((70, 100), (90, 64), seed=1)
    results = predictor.classify(images, scales=chosen, stride=stride, flips=flips, top=3)
    for image, result in zip(images, results, strict=True):
        vectors = []
        for scaled in scales.scale_plan(
            FAST, *image.shape[:2], chosen, aspect_buckets=scales.DEFAULT_ASPECT_BUCKETS
        ):
            resized = resize_image(image, *scaled.size).astype(np.float32)
            views = [resized, resized[:, ::-1]] if flips else [resized]
            for view in views:
                logits = np.asarray(dense.dense_outputs(classifier, view[None], stride=stride)[
                    "logits"][0], np.float64)  # [h, w, C]
                assert logits.shape[:2] == tuple(
                    classifier.arch.output_size(side, stride) for side in scaled.size)
                vectors.append(_softmax(logits).max(axis=(0, 1)))
        expected = np.mean(vectors, axis=0)
        assert len(vectors) == len(chosen) * (2 if flips else 1)
        np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-6)
        best = np.argsort(-expected, kind="stable")[:3]
        np.testing.assert_array_equal(result["labels"], best)
        np.testing.assert_allclose(result["scores"], expected[best], rtol=1e-5)


def test_center_view_is_the_release_classifier(classifier):
    predictor = Predictor(classifier)
    images = _images((70, 100), (64, 64), seed=2)
    extractor = FeatureExtractor(classifier)
    single = class_probabilities(extractor, images)
    no_flip = predictor.classify(images, scales="center", flips=False, top=5)
    np.testing.assert_array_equal([r["probabilities"] for r in no_flip], single)
    views = [classification_view(image, 59)[:, ::-1] for image in images]
    mirrored = class_probabilities(extractor, views)
    flipped = predictor.classify(images, scales="center", flips=True, top=5)
    np.testing.assert_allclose([r["probabilities"] for r in flipped], (single + mirrored) / 2)


def test_box_of_a_cell_in_the_original_image_hand_worked():
    """A per-class regressor whose outputs are constants set by hand: every box follows from
    its cell's window, the flip and the scale, for its class."""
    model = random_model(FAST, num_classes=3, regressor="per_class", seed=4)
    base = np.array([-0.1, 0.05, 0.2, -0.05])
    deltas = np.stack([base + 0.01 * c for c in range(3)])  # [C, 4]: class c's box
    _set_output_layer(model.regressor, 0.0, deltas.reshape(-1))  # class-major
    predictor = Predictor(model)
    (image,) = _images((70, 100), seed=5)
    result = predictor.localize(image, scales=(2,), top_k=3, return_maps=True)
    candidates = result["candidates"]
    # Scale 2 of a 70x100 image: 75x107 (smaller side 281/221*59 -> 75, aspect bucket 2**0.5);
    # the fine map is 3x7 cells, 8 pixels apart, each window 59 pixels.
    assert result["maps"][0]["size"] == (75, 107) and result["maps"][0]["probabilities"].shape[
        :2] == (3, 7)
    assert len(candidates["boxes"]) == 3 * 7 * 2 * 3  # cells x flips x classes
    # Cell (1, 2) of the flipped pass, class 1, by hand:
    # window in the flipped 75x107 image: x 16..75, y 8..67
    # box there: x1 = 16 - 0.09*59, y1 = 8 + 0.06*59, x2 = 75 + 0.21*59, y2 = 67 - 0.04*59
    # unflipped: x -> 107 - x (x1 and x2 swap); unscaled: x * 100/107, y * 70/75
    x1, y1, x2, y2 = 16 - 0.09 * 59, 8 + 0.06 * 59, 75 + 0.21 * 59, 67 - 0.04 * 59
    expected = [(107 - x2) * 100 / 107, y1 * 70 / 75, (107 - x1) * 100 / 107, y2 * 70 / 75]
    chosen = (candidates["flipped"] & (candidates["cell"] == [1, 2]).all(axis=1)
              & (candidates["labels"] == 1))
    assert chosen.sum() == 1
    np.testing.assert_allclose(candidates["boxes"][chosen][0], expected, rtol=1e-5)
    # every candidate, by the same hand rule
    for box, (row, col), flipped, label in zip(
        candidates["boxes"], candidates["cell"], candidates["flipped"], candidates["labels"],
        strict=True,
    ):
        d = deltas[label]
        left, top = col * 8, row * 8
        bx1, by1 = left + d[0] * 59, top + d[1] * 59
        bx2, by2 = left + 59 + d[2] * 59, top + 59 + d[3] * 59
        if flipped:
            bx1, bx2 = 107 - bx2, 107 - bx1
        hand = [bx1 * 100 / 107, by1 * 70 / 75, bx2 * 100 / 107, by2 * 70 / 75]
        np.testing.assert_allclose(box, hand, rtol=1e-5, atol=1e-4)
    # (a): with k = 2, the boxes of the scale's top-2 classes by the maximum over cells, flips
    maxima = np.max([entry["probabilities"].max(axis=(0, 1)) for entry in result["maps"]], 0)
    top = merge.top_k_classes_per_scale(maxima[None], 2)[0]
    two = predictor.localize(image, scales=(2,), top_k=2, return_maps=True)["candidates"]
    assert set(two["labels"].tolist()) == set(top.tolist())
    # each candidate's confidence is its cell's probability of its class
    for entry in result["maps"]:
        chosen = candidates["flipped"] == entry["flipped"]
        rows, cols = candidates["cell"][chosen].T
        np.testing.assert_allclose(candidates["scores"][chosen], entry["probabilities"][
            rows, cols, candidates["labels"][chosen]], rtol=1e-6)


def test_constant_regressor_boxes_merge_into_their_mean():
    """Every cell predicts the same box in its window's frame and the same class: all boxes of
    both scales and flips merge into one, their mean, scoring the sum of their confidences
    (``summed_scores``), reported calibrated by the 26 cells that could vote for it (2x2 and
    3x3 cells, each mirrored): sum / (sum + 0.05 * 26)."""
    model = random_model(FAST, num_classes=3, regressor="shared", seed=6)
    d = np.array([0.05, -0.1, -0.02, 0.08])
    _set_output_layer(model.regressor, 0.0, d)
    _set_output_layer(model.classifier, 0.0, [0.0, 3.0, 0.0])  # class 1 everywhere
    probability = np.exp(3.0) / (np.exp(3.0) + 2)
    predictor = Predictor(model)
    (image,) = _images((100, 100), seed=7)
    boxes = []
    for scaled in scales.scale_plan(FAST, 100, 100, (1, 2),
                                    aspect_buckets=scales.DEFAULT_ASPECT_BUCKETS):
        side = scaled.height  # square: 67 (2x2 cells) and 75 (3x3 cells)
        cells = (side - 59) // 8 + 1
        for row in range(cells):
            for col in range(cells):
                box = np.array([col * 8, row * 8, col * 8 + 59, row * 8 + 59]) + d * 59
                mirrored = np.array([side - box[2], box[1], side - box[0], box[3]])
                boxes += [box * 100 / side, mirrored * 100 / side]
    assert len(boxes) == 2 * (4 + 9)
    for method, params in (("greedy", {"threshold": 0.6}), ("nmm", {"match_threshold": 0.3})):
        result = predictor.localize(image, scales=(1, 2), top_k=1, merge=method,
                                    merge_params=params, return_maps=True)
        assert result["labels"].tolist() == [1]
        assert (result["candidates"]["assignment"] == 0).all()
        if method == "greedy":
            np.testing.assert_allclose(result["boxes"][0], np.mean(boxes, axis=0), rtol=1e-5)
            summed = len(boxes) * probability  # 26 p, p = 0.834: 21.7
            np.testing.assert_allclose(result["summed_scores"][0], summed, rtol=1e-5)
            np.testing.assert_allclose(result["scores"][0], summed / (summed + 1.3), rtol=1e-5)
            assert result["regressor"] is True
        else:  # NMM: the enclosing box of the group, the best member's score
            hull = np.concatenate([np.min(boxes, 0)[:2], np.max(boxes, 0)[2:]])
            np.testing.assert_allclose(result["boxes"][0], np.clip(hull, 0, 100), rtol=1e-5)
            np.testing.assert_allclose(result["scores"][0], probability, rtol=1e-5)
            assert "summed_scores" not in result  # nothing was summed
    # NMS keeps the first of equal scores and drops the boxes overlapping it by IoU > 0.5
    nms = predictor.localize(image, scales=(1, 2), top_k=1, merge="nms")
    kept, *_ = merge.nms(np.array(boxes, np.float32), np.ones(len(boxes)), np.ones(len(boxes),
                                                                                 int))
    assert len(nms["boxes"]) == len(kept)


def test_detection_never_returns_the_background_class():
    model = random_model(FAST, num_classes=3, regressor="shared", seed=8)
    _set_output_layer(model.classifier, 0.2, [0.0, 0.5, 4.0])  # background (2) wins everywhere
    images = _images((80, 80), (70, 120), seed=9)
    plain = Predictor(model).localize(images, scales=(1,), top_k=1, max_boxes=3)
    assert all(r["labels"].tolist() == [2] * len(r["labels"]) for r in plain)  # as a class
    detector = Predictor(model, background_class=True, class_names=["cat", "dog", "bg"])
    for result in detector.detect(images, scales=(1, 2), top_k=5, min_confidence=0.0,
                                  score_threshold=0.05, max_boxes=4, return_maps=True):
        assert len(result["labels"]) and 2 not in result["labels"]
        assert set(result["candidates"]["labels"].tolist()) == {0, 1}  # k clipped to 2
        assert len(result["boxes"]) <= 4 and (result["scores"] >= 0.05).all()
        assert result["class_names"] == [["cat", "dog"][label] for label in result["labels"]]
        assert np.all(np.diff(result["scores"]) <= 0)
    strict = detector.detect(images[0], scales=(1,), score_threshold=1e9)
    assert strict["boxes"].shape == (0, 4) and strict["labels"].shape == (0,)


def test_shape_buckets_bound_the_compiled_programs(classifier):
    """A stream of random sizes compiles no more than ``program_bound`` programs, all of the
    bucket shapes; an image's result does not depend on its batch."""
    predictor = Predictor(classifier, aspect_buckets=(1.0, 2.0), batch_size=2)
    bound = predictor.program_bound((1,))
    assert bound == 3 * 2  # shapes (67x67, 67x131, 131x67) x batch sizes (1, 2)
    rng = np.random.default_rng(10)
    stream = []
    for _ in range(7):
        count = int(rng.integers(1, 4))
        shapes = [tuple(int(v) for v in rng.integers(30, 300, 2)) for _ in range(count)]
        stream.append(_images(*shapes, seed=int(rng.integers(1000))))
    alone = predictor.classify(stream[0][0], scales=(1,), top=2)
    for images in stream:
        predictor.classify(images, scales=(1,), top=2)
    assert predictor.program_count <= bound
    allowed = set(scales.bucket_shapes(FAST, (1,), aspect_buckets=(1.0, 2.0))[1])
    assert {key[0][1:3] for key in predictor._programs} <= allowed
    batched = predictor.classify(stream[0], scales=(1,), top=2)[0]
    np.testing.assert_allclose(batched["probabilities"], alone["probabilities"], rtol=1e-5)


def test_bad_requests_are_named(classifier):
    predictor = Predictor(classifier)
    (image,) = _images((60, 60))
    with pytest.raises(ValueError, match="need a model with a box regressor, or a classifier"):
        predictor.localize(image)
    with pytest.raises(ValueError, match="scales must be distinct values of 1..6"):
        predictor.classify(image, scales=(0, 2))
    with pytest.raises(ValueError, match="stride must be"):
        predictor.classify(image, stride="medium")
    with pytest.raises(ValueError, match="no images given"):
        predictor.classify([])
    with pytest.raises(ValueError, match="6 class names for a model of 5 classes"):
        Predictor(classifier, class_names=list("abcdef"))


def test_bfloat16_compute_stays_close_and_leaves_the_model_alone(classifier):
    """The GPU mode's dtype: convolutions in bfloat16, softmax in float32; the caller's model
    keeps computing in float32."""
    images = _images((70, 100), seed=13)
    reference = Predictor(classifier).classify(images, scales=(1,), flips=False)[0]
    half = Predictor(classifier, compute_dtype="bfloat16").classify(images, scales=(1,),
                                                                   flips=False)[0]
    assert classifier.trunk.conv1.dtype is None
    np.testing.assert_allclose(half["probabilities"], reference["probabilities"], atol=0.05)
    assert not np.array_equal(half["probabilities"], reference["probabilities"])


def test_calibrated_scores_hand_worked_monotone_and_in_unit_interval():
    """sum / (sum + 0.05 votes): 5% of the possible votes is 0.5, 15% 0.75."""
    # fast_small at sides 67 .. 123 (fine stride 8): 2x2, 3x3, 4x4, 7x7, 8x8 and 9x9 cells;
    # ceil(59 / 8) = 8 cells per axis hold a point: 4 + 9 + 16 + 49 + 64 + 64, twice
    sides = scales.smaller_sides("fast_small")
    assert possible_votes(FAST_SMALL, sides, flips=True) == 2 * 206
    assert possible_votes(FAST_SMALL, (123,), flips=False, stride="coarse") == 4 ** 2
    np.testing.assert_allclose(calibrated_scores([0.0, 10.0, 20.0, 60.0], 400),
                               [0.0, 1 / 3, 0.5, 0.75], rtol=1e-6)
    # strictly increasing over everything the accumulator can sum (every cell of the six
    # scales with flips, each at most 1), even 0.01 apart in float32
    summed = np.arange(0.0, 2 * 274.0, 0.01)
    calibrated = calibrated_scores(summed, 412)
    assert calibrated.dtype == np.float32
    assert calibrated[0] == 0 and calibrated[-1] < 1 and np.all(np.diff(calibrated) > 0)
    # where 1 - exp(-share / 0.05) would have tied boxes the accumulator ranks apart
    # (a box gathering 450 and one 540 of fast_small's 548 cells)
    assert np.float32(1 - np.exp(-450 / 20.6)) == np.float32(1 - np.exp(-540 / 20.6))
    with pytest.raises(ValueError, match="votes must be positive"):
        calibrated_scores([1.0], 0)
    with pytest.raises(ValueError, match="never negative"):
        calibrated_scores([-0.5], 12)


def test_threshold_applies_to_calibrated_scores_and_ranking_is_the_sums():
    """Three equal boxes at 0.9 merge into one summing 2.7 (2.7 / 4.7 = 0.574 with 40 votes,
    half-score at 2), a lone box at 0.5 sums 0.5 (0.5 / 2.5 = 0.2), a far one at 0.4 0.4
    (1/6): a threshold of 0.3 keeps the first only, as it would not on the raw sums."""
    box, lone, far = [10, 10, 50, 50], [100, 100, 140, 140], [200, 10, 240, 50]
    candidates = {
        "boxes": np.array([box, box, box, lone, far], np.float32),
        "scores": np.array([0.9, 0.9, 0.9, 0.5, 0.4], np.float32),
        "labels": np.zeros(5, np.int32),
    }
    options = dict(votes=40, min_confidence=0.0, max_boxes=None)
    everything, _ = _merge_candidates(candidates, "greedy", {}, score_threshold=0.0, **options)
    np.testing.assert_allclose(everything["summed_scores"], [2.7, 0.5, 0.4], rtol=1e-6)
    np.testing.assert_allclose(everything["scores"], [2.7 / 4.7, 0.2, 0.4 / 2.4], rtol=1e-6)
    kept, assignment = _merge_candidates(candidates, "greedy", {}, score_threshold=0.3,
                                         **options)
    np.testing.assert_allclose(kept["boxes"], [box])
    assert assignment.tolist() == [0, 0, 0, -1, -1]
    nms, _ = _merge_candidates(candidates, "nms", {}, score_threshold=0.45, **options)
    np.testing.assert_allclose(nms["scores"], [0.9, 0.5])  # the best member's, as it was
    assert "summed_scores" not in nms
    record = to_json(everything | {"class_names": ["car"] * 3, "regressor": True})
    np.testing.assert_allclose(record["summed_scores"], [2.7, 0.5, 0.4], rtol=1e-6)
    np.testing.assert_allclose(record["scores"], everything["scores"], rtol=1e-6)
    assert record["regressor"] is True


def test_duplicates_the_merge_leaves_are_dropped_after_it():
    """Two boxes of one object, [0, 0, 40, 40] (two members at 0.9) and [8, 0, 48, 40] (one at
    0.8): IoU 32*40 / (48*40) = 0.667, centres 8 apart in a 48x40 enclosing box, so
    match_score = 0.333 + 64 / 3904 = 0.350 merges them at t = 0.5 but not at t = 0.3. At
    t = 0.3 both survive the merge, and duplicate_iou 0.5 drops the weaker one, its member
    assigned to the box that stays; another class's box at the same place stays."""
    a, b = [0, 0, 40, 40], [8, 0, 48, 40]
    candidates = {
        "boxes": np.array([a, a, b, b], np.float32),
        "scores": np.array([0.9, 0.9, 0.8, 0.7], np.float32),
        "labels": np.array([0, 0, 0, 1], np.int32),
    }
    options = dict(votes=40, min_confidence=0.0, max_boxes=None, score_threshold=0.0)
    params = {"threshold": 0.3}
    both, _ = _merge_candidates(candidates, "greedy", dict(params), **options)
    assert both["labels"].tolist() == [0, 0, 1]
    kept, assignment = _merge_candidates(candidates, "greedy", dict(params), duplicate_iou=0.5,
                                         **options)
    np.testing.assert_allclose(kept["boxes"], [a, b])
    assert kept["labels"].tolist() == [0, 1]
    np.testing.assert_allclose(kept["summed_scores"], [1.8, 0.7], rtol=1e-6)
    np.testing.assert_allclose(kept["scores"], [1.8 / 3.8, 0.7 / 2.7], rtol=1e-6)
    assert assignment.tolist() == [0, 0, 0, 1]
    # IoU 0.667 is not above 0.7: both stay
    loose, _ = _merge_candidates(candidates, "greedy", dict(params), duplicate_iou=0.7,
                                 **options)
    assert loose["labels"].tolist() == [0, 0, 1]

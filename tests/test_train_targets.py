"""Which cells the regressor and the detector train on: hand-worked cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from overfeat.train import targets

# Jitted: one compilation per shape instead of one per eager operation.
overlaps_of = jax.jit(targets.box_window_overlaps)
regression_targets = jax.jit(targets.regression_targets, static_argnums=4)
detection_targets = jax.jit(
    targets.detection_targets,
    static_argnames=("background", "positive_coverage", "positive_fill", "negative_max"),
)
select_negatives = jax.jit(targets.select_negatives, static_argnames=("hard", "random"))

# One row of three 10x10 windows: [0, 10), [5, 15) and [20, 30) along x.
WINDOWS = jnp.array([[[0, 0, 10, 10], [5, 0, 15, 10], [20, 0, 30, 10]]], jnp.float32)  # [1, 3, 4]


def batch(boxes, labels, ignore=None):
    boxes = jnp.asarray(boxes, jnp.float32)[None]
    labels = jnp.asarray(labels, jnp.int32)[None]
    ignore = jnp.zeros(labels.shape, bool) if ignore is None else jnp.asarray(ignore)[None]
    return boxes, labels, ignore


def test_overlaps_by_hand():
    boxes, _, _ = batch([[2, 2, 8, 8]], [0])  # area 36
    overlaps = overlaps_of(boxes, WINDOWS)
    # window 0 holds the whole box; window 1 half of it (x 5..8, y 2..8: 18 px); window 2 none.
    np.testing.assert_allclose(overlaps["coverage"][0, 0, :, 0], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(overlaps["fill"][0, 0, :, 0], [0.36, 0.18, 0.0])
    np.testing.assert_allclose(overlaps["iou"][0, 0, :, 0], [0.36, 18 / 118, 0.0], rtol=1e-6)


def test_degenerate_box_overlaps_nothing():
    boxes, _, _ = batch([[4, 4, 4, 9]], [0])  # zero width
    overlaps = overlaps_of(boxes, WINDOWS)
    for value in overlaps.values():
        assert not np.any(np.asarray(value))


@pytest.mark.parametrize(
    "min_coverage, expected", [(0.5, [True, True, False]), (0.6, [True, False, False])]
)
def test_regressor_trains_cells_that_see_half_the_box(min_coverage, expected):
    trained, boxes, labels = regression_targets(*batch([[2, 2, 8, 8]], [3]), WINDOWS, min_coverage)
    assert trained[0, 0].tolist() == expected
    np.testing.assert_array_equal(boxes[0, 0, 0], [2, 2, 8, 8])
    assert int(labels[0, 0, 0]) == 3


def test_each_cell_takes_the_box_it_frames_best():
    # Box A fills window 0 exactly; box B is small inside it; window 1 sees B whole, A half.
    trained, boxes, labels = regression_targets(
        *batch([[0, 0, 10, 10], [6, 2, 9, 5], [0, 0, 0, 0]], [1, 2, -1]), WINDOWS, 0.5
    )
    assert trained[0, 0].tolist() == [True, True, False]
    assert labels[0, 0].tolist()[:2] == [1, 1]  # IoU(A, w0) = 1; IoU(A, w1) = 50/150 > IoU(B, w1)
    np.testing.assert_array_equal(boxes[0, 0, 1], [0, 0, 10, 10])


def test_ignored_and_padding_boxes_train_no_regressor_cell():
    trained, _, _ = regression_targets(
        *batch([[2, 2, 8, 8], [21, 1, 29, 9]], [0, -1], ignore=[True, False]), WINDOWS, 0.5
    )
    assert not np.any(np.asarray(trained))


def test_detection_cells_positive_background_and_left_out():
    target, positive, negative = detection_targets(
        *batch([[2, 2, 8, 8]], [4]),
        WINDOWS,
        background=7,
        positive_coverage=0.5,
        positive_fill=0.2,
        negative_max=0.2,
    )
    # w0: whole box, fills 36%: positive class 4. w1: half the box, fills 18%: too little to
    # be positive, too much to be background: left out. w2: nothing: background.
    assert positive[0, 0].tolist() == [True, False, False]
    assert negative[0, 0].tolist() == [False, False, True]
    assert target[0, 0].tolist() == [4, 7, 7]


def test_ignored_boxes_are_neither_positive_nor_background():
    _, positive, negative = detection_targets(
        *batch([[2, 2, 8, 8], [20, 0, 30, 10]], [4, 5], ignore=[False, True]),
        WINDOWS,
        background=7,
        positive_coverage=0.5,
        positive_fill=0.2,
        negative_max=0.2,
    )
    assert positive[0, 0].tolist() == [True, False, False]
    assert negative[0, 0].tolist() == [False, False, False]  # w2 holds the crowd region


def test_small_object_is_not_a_positive_of_a_large_window():
    # 2x2 object fully inside window 0: coverage 1 but fills 4%: left out at this scale.
    _, positive, negative = detection_targets(
        *batch([[1, 1, 3, 3]], [0]),
        WINDOWS,
        background=7,
        positive_coverage=0.5,
        positive_fill=0.1,
        negative_max=0.2,
    )
    assert positive[0, 0].tolist() == [False, False, False]
    assert negative[0, 0].tolist() == [False, True, True]


def test_select_negatives_hard_then_random():
    losses = jnp.array([[5.0, 1.0, 4.0, 3.0, 2.0, 0.0]])
    negative = jnp.array([[True, True, False, True, True, True]])
    hard, random = select_negatives(losses, negative, jax.random.key(0), hard=2, random=2)
    assert np.flatnonzero(hard[0]).tolist() == [0, 3]  # index 2 is not a negative
    chosen = np.flatnonzero(random[0])
    assert len(chosen) == 2 and set(chosen) <= {1, 4, 5}
    _, everything = select_negatives(losses, negative, jax.random.key(0), hard=2, random=9)
    assert np.flatnonzero(everything[0]).tolist() == [1, 4, 5]
    # Different keys draw different random negatives, the same key the same ones.
    draws = {
        tuple(
            np.flatnonzero(
                select_negatives(losses, negative, jax.random.key(seed), hard=0, random=2)[1][0]
            )
        )
        for seed in range(6)
    }
    assert len(draws) > 1


def test_select_negatives_with_too_few_negatives():
    losses = jnp.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    negative = jnp.array([[False, False, False], [False, True, False]])
    hard, random = select_negatives(losses, negative, jax.random.key(1), hard=2, random=2)
    assert not np.any(np.asarray(hard[0]) | np.asarray(random[0]))
    assert np.asarray(hard[1]).tolist() == [False, True, False]
    assert not np.any(np.asarray(random[1]))

"""The six-scale plan, the resizing rule and the shape bucketing."""

import numpy as np
import pytest

from overfeat import scales
from overfeat.architectures import ARCHITECTURES, get_architecture


def test_table5_reproduced_for_a_5_by_4_image():
    plan = scales.scale_plan("accurate", 400, 500, rule="table5")
    assert [s.size for s in plan] == list(scales.TABLE5_SIZES)
    assert [s.scale_index for s in plan] == [1, 2, 3, 4, 5, 6]
    portrait = scales.scale_plan("accurate", 500, 400, rule="table5")
    assert [s.size[::-1] for s in portrait] == list(scales.TABLE5_SIZES)


def test_table5_aspects_that_reproduce_it():
    """The inferred rule gives Table 5 for aspects 1.235 .. 1.253 (5:4) and not outside."""
    for aspect, expected in (
        (1.22, False),
        (1.235, True),
        (1.25, True),
        (1.253, True),
        (1.26, False),
        (4 / 3, False),
    ):
        plan = scales.scale_plan("accurate", 1000, round(1000 * aspect), rule="table5")
        assert ([s.size for s in plan] == list(scales.TABLE5_SIZES)) is expected, aspect


def test_table5_sizes_give_equal_offset_maps():
    """Every Table 5 side is on the grid where each of the 3x3 offset maps has the same size:
    the fine map is exactly 3 times the coarse one."""
    arch = get_architecture("accurate")
    for height, width in scales.TABLE5_SIZES:
        for side in (height, width):
            assert arch.is_valid_size(side, "fine")
            assert arch.output_size(side, "fine") == 3 * arch.output_size(side, "coarse")


def test_smaller_sides():
    table5 = tuple(h for h, _ in scales.TABLE5_SIZES)
    assert scales.smaller_sides("accurate") == table5
    assert scales.smaller_sides("accurate", rule="table5") == table5
    # the fast net's Table-5 grid: 231 + 16 = 247, every 32 pixels, at steps 0 1 2 4 5 6
    assert scales.smaller_sides("fast", rule="table5") == (247, 279, 311, 375, 407, 439)
    for name in ARCHITECTURES:
        arch = get_architecture(name)
        for rule, stride in (("nearest", "fine"), ("nearest", "coarse"), ("table5", "fine")):
            sides = scales.smaller_sides(name, rule=rule, stride=stride)
            assert all(np.diff(sides) > 0), (name, rule, sides)
            assert all(arch.is_valid_size(side, stride) for side in sides)
        # nearest: each side within half a fine stride of Table 5's ratio to the view
        for side, accurate_side in zip(scales.smaller_sides(name), table5, strict=True):
            target = accurate_side / 221 * arch.field_of_view
            assert abs(side - target) <= arch.fine_stride / 2


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_plan_sides_valid_and_aspect_kept(name):
    arch = get_architecture(name)
    rng = np.random.default_rng(0)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(40, 2000, 2))
        aspect = max(height, width) / min(height, width)
        for stride in ("fine", "coarse"):
            plan = scales.scale_plan(arch, height, width, stride=stride)
            for scaled in plan:
                assert arch.is_valid_size(scaled.height, stride)
                assert arch.is_valid_size(scaled.width, stride)
                assert scaled.factor_y == scaled.height / height
                assert scaled.factor_x == scaled.width / width
                smaller, larger = sorted(scaled.size)
                if height != width:  # the orientation is kept (or the result square)
                    assert (scaled.height <= scaled.width) == (height < width) or smaller == larger
                step = arch.fine_stride if stride == "fine" else arch.stride
                assert abs(larger - smaller * aspect) <= step / 2  # nearest on the grid
        table5 = scales.scale_plan(arch, height, width, rule="table5")
        for scaled in table5:
            assert arch.is_valid_size(scaled.height) and arch.is_valid_size(scaled.width)


def test_scale_subsets_and_errors():
    plan = scales.scale_plan("fast", 300, 300, scales=(2, 5))
    assert [s.scale_index for s in plan] == [2, 5]
    with pytest.raises(ValueError, match="subset of 1..6"):
        scales.scale_plan("fast", 300, 300, scales=(0, 7))
    with pytest.raises(ValueError, match="positive"):
        scales.scale_plan("fast", 0, 300)
    with pytest.raises(ValueError, match="rule"):
        scales.scale_plan("fast", 300, 300, rule="paper")
    with pytest.raises(ValueError, match="unknown architecture"):
        scales.scale_plan("huge", 300, 300)


def test_snap_aspect():
    buckets = scales.DEFAULT_ASPECT_BUCKETS
    assert scales.snap_aspect(1.0, buckets) == 1.0
    assert scales.snap_aspect(1.2, buckets) == 2**0.25
    assert scales.snap_aspect(4 / 3, buckets) == 2**0.5
    assert scales.snap_aspect(5.0, buckets) == 2.0  # beyond 2:1: squashed to 2:1


@pytest.mark.parametrize("rule", ["nearest", "table5"])
def test_bucketing_bounds_the_shapes_of_a_stream(rule):
    """A stream of images of random sizes yields exactly the precomputed bucket shapes:
    at most 2 * 5 - 1 = 9 per scale, 54 for six scales."""
    buckets = scales.DEFAULT_ASPECT_BUCKETS
    rng = np.random.default_rng(0)
    seen: dict[int, set] = {scale: set() for scale in scales.ALL_SCALES}
    for _ in range(2000):
        height, width = (int(v) for v in np.exp(rng.uniform(np.log(50), np.log(3000), 2)))
        for scaled in scales.scale_plan(
            "accurate", height, width, rule=rule, aspect_buckets=buckets
        ):
            seen[scaled.scale_index].add(scaled.size)
    expected = scales.bucket_shapes("accurate", rule=rule, aspect_buckets=buckets)
    assert {scale: sorted(shapes) for scale, shapes in seen.items()} == expected
    bound = scales.shapes_per_scale(buckets)
    assert bound == 9
    assert all(len(shapes) <= bound for shapes in expected.values())
    if rule == "nearest":  # every bucket gives its own shape: the bound is reached
        assert sum(len(shapes) for shapes in expected.values()) == 6 * bound


def test_resize_keeps_the_box_convention():
    """A block of pixels [x 30..45, y 10..20] in a 40x60 image lands at exactly twice its
    coordinates after resizing to 80x120 (continuous coordinates, pixel centres at k + 0.5)."""
    image = np.zeros((1, 40, 60, 3), np.uint8)
    image[0, 10:20, 30:45] = 255
    resized = np.asarray(scales.resize_images(image, 80, 120))
    assert resized.shape == (1, 80, 120, 3) and resized.dtype == np.float32
    inside = resized[0, 21:39, 61:89]
    assert np.allclose(inside, 255)
    outside = np.ones((80, 120), bool)
    outside[19:41, 59:91] = False  # the block and a one-pixel blurred border
    assert np.allclose(resized[0][outside], 0)


def test_flip_images():
    image = np.arange(2 * 3 * 4 * 3).reshape(2, 3, 4, 3)
    flipped = scales.flip_images(image)
    np.testing.assert_array_equal(flipped[:, :, 0], image[:, :, -1])
    np.testing.assert_array_equal(scales.flip_images(flipped), image)


def test_sides_for_objects_worked_out_by_hand():
    # fast_small: view 59, fine stride 8. Objects of 0.12 .. 0.38 of the shorter side: the
    # largest at 1.25 views in the smallest scale, 1.25 * 59 / 0.38 = 194.08; the smallest at
    # 0.8 views in the largest, 0.8 * 59 / 0.12 = 393.33; geometric between (ratio 1.1518):
    # 223.53, 257.45, 296.52, 341.51. Snapped to 59 + 8k: 195, 227, 259, 299, 339, 395.
    assert scales.sides_for_objects("fast_small", 0.12, 0.38) == (195, 227, 259, 299, 339, 395)
    # Large objects: never below the paper's sides (67 .. 123); 1.25 * 59 / 0.9 = 81.9 -> 83,
    # then up by one stride at least per scale to the paper's largest.
    assert scales.sides_for_objects("fast_small", 0.5, 0.9) == (83, 91, 99, 107, 115, 123)
    with pytest.raises(ValueError, match="0 < small <= large"):
        scales.sides_for_objects("fast_small", 0.5, 0.2)


def test_a_models_own_sides_replace_the_papers():
    sides = (83, 99, 115, 131, 147, 163)
    plan = scales.scale_plan("fast_small", 64, 128, sides=sides)
    assert [scaled.height for scaled in plan] == list(sides)
    assert all(scaled.width == get_architecture("fast_small").snap_size(2 * scaled.height)
               for scaled in plan)
    with pytest.raises(ValueError, match="6 increasing"):
        scales.scale_plan("fast_small", 64, 64, sides=sides[:5])
    with pytest.raises(ValueError, match=r"\[84\] are not valid"):
        scales.check_sides("fast_small", (67, 75, 84, 99, 107, 115))
    with pytest.raises(ValueError, match="rule='nearest'"):
        scales.scale_plan("fast_small", 64, 64, rule="table5", sides=sides)

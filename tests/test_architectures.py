"""The layer tables and every number derived from them."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

import overfeat
from overfeat import dense
from overfeat.architectures import ACCURATE, ARCHITECTURES, FAST, MaxPool, get_architecture

# The release's weight files hold exactly this many float32 values (weight_format.md).
RELEASE_FLOATS = {"fast": 583_683_488 // 4, "accurate": 578_625_952 // 4}

# Table 5: input size -> layer-5 map (pre-pool) and fine output map, for the accurate net.
# Row 5's layer-5 width is 38 by the table's own arithmetic, not the printed 35 (NOTES.md).
TABLE5 = [
    ((245, 245), (17, 17), (3, 3)),
    ((281, 317), (20, 23), (6, 9)),
    ((317, 389), (23, 29), (9, 15)),
    ((389, 461), (29, 35), (15, 21)),
    ((425, 497), (32, 38), (18, 24)),
    ((461, 569), (35, 44), (21, 30)),
]


def test_param_counts_match_the_release_files():
    assert FAST.param_count(1000) == RELEASE_FLOATS["fast"] == 145_920_872
    assert ACCURATE.param_count(1000) == RELEASE_FLOATS["accurate"] == 144_656_488


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_param_count_equals_the_model_parameters(name):
    model = jax.eval_shape(lambda: overfeat.create_model(name, num_classes=17))
    from flax import nnx

    sizes = jax.tree.leaves(jax.tree.map(lambda x: x.size, nnx.state(model, nnx.Param)))
    assert sum(sizes) == get_architecture(name).param_count(17)


def test_strides_offsets_and_field_of_view():
    assert (FAST.stride, FAST.fine_stride, FAST.offsets, FAST.field_of_view) == (
        32,
        16,
        (0, 1),
        231,
    )
    assert (ACCURATE.stride, ACCURATE.fine_stride, ACCURATE.offsets, ACCURATE.field_of_view) == (
        36,
        12,
        (0, 1, 2),
        221,
    )


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_field_of_view_gives_one_output(name):
    arch = get_architecture(name)
    assert arch.output_size(arch.field_of_view, "coarse") == 1
    assert arch.output_size(arch.field_of_view, "fine") == 1
    assert arch.output_size(arch.field_of_view - 1, "fine") == 0


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_valid_sizes_drop_no_pixel(name):
    arch = get_architecture(name)
    sizes = set(arch.valid_sizes(arch.field_of_view + 5 * arch.stride))
    for size in range(arch.field_of_view, arch.field_of_view + 5 * arch.stride + 1):
        # A size drops no pixel exactly when the smallest input giving its layer-5 map is itself.
        exact = arch.input_size_for_layer5(arch.layer5_size(size)) == size
        assert (size in sizes) == exact == arch.is_valid_size(size), size
    coarse = arch.valid_sizes(arch.field_of_view + 5 * arch.stride, "coarse")
    assert all(arch.layer5_size(n) % arch.last_pool.window == 0 for n in coarse)
    assert arch.snap_size(arch.field_of_view + 0.4 * arch.fine_stride) == arch.field_of_view


@pytest.mark.parametrize(("size", "layer5", "fine"), TABLE5)
def test_table5_map_sizes(size, layer5, fine):
    assert tuple(ACCURATE.layer5_size(n) for n in size) == layer5
    assert tuple(ACCURATE.output_size(n, "fine") for n in size) == fine
    # Table 5's sizes give every offset the same map (L = 2 mod 3): the coarse map per offset
    # ("classifier map, pre-reshape") times 3 is the fine map.
    coarse = tuple(ACCURATE.output_size(n, "coarse") for n in size)
    assert all(cells % 3 == 2 for cells in layer5)
    assert tuple(3 * c for c in coarse) == fine


def test_release_coarse_map_for_461x569():
    # weight_format.md: the release outputs 8x11 (fast) and 7x10 (accurate) at 461x569.
    assert (FAST.output_size(461, "coarse"), FAST.output_size(569, "coarse")) == (8, 11)
    assert (ACCURATE.output_size(461, "coarse"), ACCURATE.output_size(569, "coarse")) == (7, 10)


@pytest.mark.parametrize(("size", "layer5", "fine"), TABLE5)
def test_accurate_network_shapes_follow_the_table(size, layer5, fine):
    # Traced abstractly: no 145M-parameter allocation, but the real modules' shapes.
    def run():
        model = overfeat.create_model("accurate", num_classes=1000, regressor="shared")
        images = jnp.zeros((1, *size, 3))
        return model.trunk(images), dense.dense_outputs(model, images, stride="fine")

    layer5_map, outputs = jax.eval_shape(run)
    assert layer5_map.shape == (1, *layer5, 1024)
    assert outputs["logits"].shape == (1, *fine, 1000)
    assert outputs["boxes"].shape == (1, *fine, 4)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown architecture 'huge'.*accurate"):
        get_architecture("huge")


def test_trunk_must_end_with_a_pool():
    with pytest.raises(ValueError, match="last max-pool"):
        dataclasses.replace(FAST, trunk=FAST.trunk[:-1])
    assert isinstance(FAST.trunk[-1], MaxPool)

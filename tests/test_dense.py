"""Fine-stride dense application: fused pass vs the paper's per-offset procedure, the coarse
sub-grid, and dense outputs vs the network run window by window."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import overfeat
from overfeat import dense
from overfeat.architectures import Conv, get_architecture

SMALL = ("fast_small", "accurate_small")


def _images(shape, seed=0):
    return jax.random.uniform(jax.random.key(seed), shape, minval=0.0, maxval=255.0)


def _odd_sizes(arch):
    view, step = arch.field_of_view, arch.fine_stride
    # Valid sizes and sizes between them (pixels dropped), square and not.
    return [(view, view + 3), (view + step + 5, view + 2 * step), (view + 3 * step + 1, view + 7)]


@pytest.mark.parametrize("name", SMALL)
def test_fused_fine_stride_equals_the_per_offset_reference(name):
    model = overfeat.create_model(name, num_classes=5, regressor="per_class", seed=1)
    window = model.arch.last_pool.window
    for height, width in _odd_sizes(model.arch):
        layer5 = model.trunk(_images((2, height, width, 3)))
        for head in (model.classifier, model.regressor):
            fused = dense.apply_head_fused(head, layer5, window)
            reference = dense.apply_head_reference(head, layer5, window)
            expected = (model.arch.output_size(height), model.arch.output_size(width))
            assert fused.shape[1:3] == reference.shape[1:3] == expected
            np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_coarse_map_is_the_fine_map_subgrid(name):
    model = overfeat.create_model(name, num_classes=5, seed=2)
    window = model.arch.last_pool.window
    for height, width in _odd_sizes(model.arch):
        images = _images((1, height, width, 3), seed=3)
        fine = dense.dense_outputs(model, images, stride="fine")["logits"]
        coarse = dense.dense_outputs(model, images, stride="coarse")["logits"]
        assert coarse.shape[1:3] == (
            model.arch.output_size(height, "coarse"),
            model.arch.output_size(width, "coarse"),
        )
        np.testing.assert_allclose(fine[:, ::window, ::window], coarse, rtol=1e-5, atol=1e-5)


def _without_padding(name):
    """The architecture with its padded convolutions made valid ones.

    Zero padding inside the trunk (conv3-5) means a window seen inside a large image has real
    neighbours where the same window cropped out has zeros, so dense equals crop-by-crop
    exactly only for unpadded trunks; `test_padding_changes_only_border_context` bounds the rest.
    """
    arch = get_architecture(name)
    trunk = tuple(
        dataclasses.replace(layer, padding=0) if isinstance(layer, Conv) else layer
        for layer in arch.trunk
    )
    return dataclasses.replace(arch, name=f"{name}_valid", trunk=trunk)


@pytest.mark.parametrize("name", SMALL)
def test_every_dense_cell_equals_the_network_on_its_window(name):
    arch = _without_padding(name)
    model = overfeat.create_model(arch, num_classes=4, regressor="shared", seed=4)
    view, step = arch.field_of_view, arch.fine_stride
    height, width = view + 2 * step, view + 3 * step
    images = _images((1, height, width, 3), seed=5)
    outputs = dense.dense_outputs(model, images, stride="fine")
    rows, cols = outputs["logits"].shape[1:3]
    assert (rows, cols) == (3, 4)
    crops = jnp.stack(
        [
            images[0, i * step : i * step + view, j * step : j * step + view]
            for i in range(rows)
            for j in range(cols)
        ]
    )
    by_window = dense.dense_outputs(model, crops, stride="coarse")
    for key in ("logits", "boxes"):
        np.testing.assert_allclose(
            by_window[key].reshape(rows, cols, -1), outputs[key][0], rtol=1e-5, atol=1e-5
        )


def test_padding_changes_only_border_context():
    # With padded convs the crop's border sees zeros; the dense map there differs, but the
    # window at the image corner (whose top and left borders are the image's) agrees on the
    # layer-5 cells away from the crop's far borders.
    model = overfeat.create_model("accurate_small", num_classes=3, seed=6)
    view = model.arch.field_of_view
    images = _images((1, view + 24, view + 24, 3), seed=7)
    full = model.trunk(images)
    crop = model.trunk(images[:, :view, :view])
    size = crop.shape[1]
    np.testing.assert_allclose(
        full[:, : size - 4, : size - 4], crop[:, : size - 4, : size - 4], rtol=1e-5, atol=1e-5
    )


def test_images_smaller_than_the_view_are_rejected():
    model = overfeat.create_model("fast_small", num_classes=3)
    with pytest.raises(
        ValueError, match="smaller than the fast_small network's 59x59 field of view"
    ):
        dense.dense_outputs(model, jnp.zeros((1, 58, 80, 3)))


@pytest.mark.parametrize("shape", [(59, 59, 3), (1, 59, 59), (1, 59, 59, 4), (2, 1, 59, 59, 3)])
def test_arrays_that_are_not_images_are_rejected(shape):
    model = overfeat.create_model("fast_small", num_classes=3)
    with pytest.raises(ValueError, match=r"expected images of shape \[B, H, W, 3\]"):
        dense.dense_outputs(model, jnp.zeros(shape))


def test_taps_by_paper_name():
    model = overfeat.create_model("accurate_small", num_classes=6, seed=8)
    arch = model.arch
    images = _images((1, arch.field_of_view + 24, arch.field_of_view + 12, 3), seed=9)
    taps = dense.tap(model, images, arch.layer_names, stride="fine")
    assert list(taps) == list(arch.layer_names)
    assert all(float(taps[conv.name].min()) >= 0.0 for conv in arch.convs)  # after the ReLU
    np.testing.assert_allclose(
        taps["fc9"], dense.dense_outputs(model, images)["logits"], rtol=1e-5, atol=1e-5
    )
    assert taps["fc9"].shape[1:3] == (3, 2)
    coarse = dense.tap(model, images, ("pool6", "fc9"), stride="coarse")
    assert coarse["fc9"].shape[1:3] == (1, 1)
    np.testing.assert_allclose(coarse["pool6"], taps["pool6"][:, ::3, ::3])


def test_unknown_layer_names_the_layers():
    model = overfeat.create_model("fast_small", num_classes=3)
    with pytest.raises(ValueError, match="unknown layer.*'fc9'.*conv1 pool1"):
        dense.tap(model, jnp.zeros((1, 59, 59, 3)), ("fc9",))

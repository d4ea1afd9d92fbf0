"""Box arithmetic, the output cells' windows and the regressor's box encoding."""

import jax.numpy as jnp
import numpy as np
import pytest

from overfeat import boxes
from overfeat.architectures import ARCHITECTURES, get_architecture


def test_area_intersection_iou_hand_worked():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 5]], np.float32)  # the second is degenerate
    b = np.array([[5, 5, 15, 15], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    np.testing.assert_array_equal(boxes.area_xyxy(a), [100, 0])
    np.testing.assert_array_equal(boxes.intersection_xyxy(a, b), [[25, 0, 100], [0, 0, 0]])
    iou = boxes.iou_xyxy(a, b)
    np.testing.assert_allclose(iou, [[25 / 175, 0, 1], [0, 0, 0]], rtol=1e-6)
    assert not np.isnan(boxes.iou_xyxy(a[1:], a[1:])).any()  # zero union: 0, not NaN


def test_functions_keep_jax_arrays_jax():
    a = jnp.array([[0.0, 0, 10, 10]])
    iou = boxes.iou_xyxy(a, a)
    assert isinstance(iou, jnp.ndarray)
    assert float(iou[0, 0]) == 1.0
    windows = jnp.array([[12.0, 24, 233, 245]])
    deltas = boxes.encode_boxes_in_windows(a, windows)
    assert isinstance(deltas, jnp.ndarray)


def test_clip():
    clipped = boxes.clip_xyxy(np.array([[-5.0, 3, 120, 80]]), height=50, width=100)
    np.testing.assert_array_equal(clipped, [[0, 3, 100, 50]])


def test_conversions_hand_worked_and_round_trip():
    xyxy = np.array([[10.0, 20, 30, 60]])
    np.testing.assert_array_equal(boxes.cxcywh_from_xyxy(xyxy), [[20, 40, 20, 40]])
    np.testing.assert_array_equal(boxes.xyxy_from_cxcywh(boxes.cxcywh_from_xyxy(xyxy)), xyxy)
    # TFDS [ymin, xmin, ymax, xmax] normalized, image 200 high and 100 wide
    tfds = np.array([[0.1, 0.2, 0.5, 0.6]])
    pixels = boxes.xyxy_from_tfds_yxyx_normalized(tfds, height=200, width=100)
    np.testing.assert_allclose(pixels, [[20, 20, 60, 100]])
    np.testing.assert_allclose(boxes.tfds_yxyx_normalized_from_xyxy(pixels, 200, 100), tfds)


def test_flip_and_scale_hand_worked():
    box = np.array([[10.0, 5, 30, 25]])
    np.testing.assert_array_equal(boxes.flip_xyxy(box, 100), [[70, 5, 90, 25]])
    np.testing.assert_array_equal(boxes.flip_xyxy(boxes.flip_xyxy(box, 100), 100), box)
    scaled = boxes.scale_xyxy(box, factor_y=2.0, factor_x=0.5)
    np.testing.assert_array_equal(scaled, [[5, 10, 15, 50]])


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("stride", ["fine", "coarse"])
def test_cell_windows_tile_valid_sizes(name, stride):
    """At a valid size the dense map has one cell per window position and the last window
    ends exactly at the image's edge; at an invalid size fewer than a stride is unseen."""
    arch = get_architecture(name)
    step = arch.fine_stride if stride == "fine" else arch.stride
    view = arch.field_of_view
    for size in arch.valid_sizes(view + 7 * step, stride):
        cells = arch.output_size(size, stride)
        windows = boxes.cell_windows_xyxy(arch, cells, cells + 1, stride)
        assert windows.shape == (cells, cells + 1, 4)
        np.testing.assert_array_equal(windows[0, 0], [0, 0, view, view])
        assert windows[-1, -1, 3] == size  # the last row of windows ends at the bottom edge
        np.testing.assert_array_equal(np.diff(windows[:, 0, 1]), step)
        np.testing.assert_array_equal(np.diff(windows[0, :, 0]), step)
        assert (windows[..., 2] - windows[..., 0] == view).all()
        unseen = size + step - 1  # not valid: the same cells, with step - 1 pixels unseen
        assert arch.output_size(unseen, stride) == cells
        assert 0 < unseen - windows[-1, -1, 3] < step


def test_cell_windows_table5_scale1():
    arch = get_architecture("accurate")
    assert arch.output_size(245, "fine") == 3
    windows = boxes.cell_windows_xyxy(arch, 3, 3)
    np.testing.assert_array_equal(windows[2, 1], [12, 24, 233, 245])


def test_cell_windows_match_the_dense_map():
    """The windows' grid has the shape of the model's own dense output at both strides."""
    from overfeat import create_model, dense

    arch = get_architecture("accurate_small")
    model = create_model(arch, num_classes=3, seed=0)
    height, width = arch.valid_sizes(200)[2], arch.valid_sizes(200)[4]
    images = np.zeros((1, height, width, 3), np.float32)
    for stride in ("fine", "coarse"):
        logits = dense.dense_outputs(model, images, stride=stride)["logits"]
        out_h, out_w = logits.shape[1:3]
        windows = boxes.cell_windows_xyxy(arch, out_h, out_w, stride)
        assert windows.shape == (out_h, out_w, 4)
        if stride == "fine":  # valid at fine stride: the windows reach both edges
            assert windows[-1, -1, 3] == height and windows[-1, -1, 2] == width


def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    windows = boxes.cell_windows_xyxy(get_architecture("accurate"), 6, 9)  # [6, 9, 4]
    centres = rng.uniform(0, 300, (6, 9, 2))
    sizes = rng.uniform(20, 300, (6, 9, 2))
    box = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=-1)
    deltas = boxes.encode_boxes_in_windows(box, windows)
    np.testing.assert_allclose(boxes.decode_boxes_in_windows(deltas, windows), box, atol=1e-9)
    deltas32 = boxes.encode_boxes_in_windows(jnp.asarray(box, jnp.float32), windows)
    decoded = boxes.decode_boxes_in_windows(deltas32, windows)
    np.testing.assert_allclose(np.asarray(decoded), box, atol=1e-3)  # float32 pixels


def test_encoding_hand_worked():
    window = np.array([12.0, 24, 233, 245])
    np.testing.assert_array_equal(boxes.encode_boxes_in_windows(window, window), [0, 0, 0, 0])
    box = np.array([0.0, 24, 233, 267.1])
    expected = [-12 / 221, 0, 0, 22.1 / 221]
    np.testing.assert_allclose(boxes.encode_boxes_in_windows(box, window), expected)
    # the same box and window scaled and moved together: the same target
    moved = boxes.scale_xyxy(box + 7, factor_y=1.5, factor_x=1.5)
    moved_window = boxes.scale_xyxy(window + 7, factor_y=1.5, factor_x=1.5)
    np.testing.assert_allclose(boxes.encode_boxes_in_windows(moved, moved_window), expected)


def test_boxes_in_original_image_hand_worked():
    """Original 400x500, scaled to 245x305 (accurate net, scale 1), cell (1, 2) at fine
    stride: window [24, 12, 245, 233] in the scaled image; zero deltas give the window."""
    arch = get_architecture("accurate")
    windows = boxes.cell_windows_xyxy(arch, 3, 8)
    np.testing.assert_array_equal(windows[1, 2], [24, 12, 245, 233])
    deltas = np.zeros((3, 8, 4))
    fy, fx = 245 / 400, 305 / 500
    plain = boxes.boxes_in_original_image_xyxy(
        deltas, windows, scaled_size=(245, 305), original_size=(400, 500)
    )
    np.testing.assert_allclose(plain[1, 2], [24 / fx, 12 / fy, 245 / fx, 233 / fy])
    flipped = boxes.boxes_in_original_image_xyxy(
        deltas, windows, scaled_size=(245, 305), original_size=(400, 500), flipped=True
    )
    # in the flipped image the window is [24, 12, 245, 233]; unflipped in width 305:
    # [60, 12, 281, 233]
    np.testing.assert_allclose(flipped[1, 2], [60 / fx, 12 / fy, 281 / fx, 233 / fy])
    # deltas move edges by fractions of the window (221 pixels), then the resize applies
    deltas[1, 2] = [0.1, -0.1, 0.0, 0.2]
    moved = boxes.boxes_in_original_image_xyxy(
        deltas, windows, scaled_size=(245, 305), original_size=(400, 500)
    )
    expected = [(24 + 22.1) / fx, (12 - 22.1) / fy, 245 / fx, (233 + 44.2) / fy]
    np.testing.assert_allclose(moved[1, 2], expected)


def test_boxes_in_original_image_undo_flip_and_scale():
    """A box, carried into the flipped scaled image and encoded against any window, comes
    back to where it was; per-class outputs broadcast against the windows."""
    rng = np.random.default_rng(1)
    original = np.array([[40.0, 30, 200, 170], [300, 100, 480, 390]])
    height, width, scaled = 400, 500, (317, 401)
    fy, fx = scaled[0] / height, scaled[1] / width
    in_scaled = boxes.flip_xyxy(boxes.scale_xyxy(original, factor_y=fy, factor_x=fx), scaled[1])
    windows = rng.uniform(0, 200, (2, 1, 2))
    windows = np.concatenate([windows, windows + 221], axis=-1)  # [2, 1, 4]
    deltas = boxes.encode_boxes_in_windows(in_scaled[None, :, :], windows)  # [2, 2, 4]
    back = boxes.boxes_in_original_image_xyxy(
        deltas, windows, scaled_size=scaled, original_size=(height, width), flipped=True
    )
    np.testing.assert_allclose(back, np.broadcast_to(original, (2, 2, 4)), atol=1e-9)

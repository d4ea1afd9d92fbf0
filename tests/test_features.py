"""FeatureExtractor: any layer, any size, one image or a batch, compiled once per shape."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx
from PIL import Image
from random_models import random_model

from overfeat import dense, weights
from overfeat.features import FeatureExtractor, release_layer_name, release_module_indices
from overfeat.images import resize_shorter_side
from overfeat.predict import class_probabilities, classification_view, classify


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(random_model("fast_small", num_classes=6, seed=2),
                            class_names=[f"class{i}" for i in range(6)])


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (75, 91, 3), dtype=np.uint8)


def test_extract_equals_the_models_taps(extractor, image):
    layers = extractor.layer_names
    ours = extractor.extract(image, layer=layers)
    taps = nnx.jit(lambda m, x: dense.tap(m, x, layers, stride="coarse"))(
        extractor.model, image[None].astype(np.float32))
    assert set(ours) == set(layers)
    for name in layers:
        assert ours[name].dtype == np.float32 and ours[name].ndim == 3
        np.testing.assert_allclose(ours[name], taps[name][0], rtol=1e-5, atol=1e-5, err_msg=name)
    assert ours["fc8"].shape == (2, 3, 6)  # fast_small at 75x91: coarse stride 16


def test_batches_paths_and_pil_images_agree(extractor, image, tmp_path):
    Image.fromarray(image).save(tmp_path / "a.png")
    other = image[::-1].copy()
    single = extractor.extract(image, layer="conv5")
    batch = extractor.extract(np.stack([image, other]), layer="conv5")
    assert batch.shape == (2, *single.shape)
    np.testing.assert_allclose(batch[0], single, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batch[1], extractor.extract(other, layer="conv5"),
                               rtol=1e-5, atol=1e-5)
    for item in (tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(image)):
        np.testing.assert_array_equal(extractor.extract(item, layer="conv5"), single)
    listed = extractor.extract([tmp_path / "a.png", other], layer="conv5")
    np.testing.assert_array_equal(listed, batch)


def test_compiled_once_per_shape_layer_and_stride(image):
    extractor = FeatureExtractor(random_model("fast_small", num_classes=3))
    extractor.extract(image, layer="fc7")
    extractor.extract(image[::-1].copy(), layer="fc7")  # same shape: reused
    assert len(extractor._compiled) == 1
    extractor.extract(image, layer="fc7", stride="fine")
    extractor.extract(image[:70], layer="fc7")
    extractor.extract(image, layer="pool5")
    assert len(extractor._compiled) == 4


def test_size_resizes_the_shorter_side(extractor, image):
    ours = extractor.extract(image, layer="pool2", size=64)
    expected = extractor.extract(resize_shorter_side(image, 64), layer="pool2")
    np.testing.assert_array_equal(ours, expected)
    double = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # 150x182: the same aspect
    assert extractor.extract([image, double], layer="pool2", size=64).shape[0] == 2


def test_fine_stride_contains_the_coarse_map(extractor, image):
    """The coarse map is the offset-0 sub-grid of the fine one (pool window 2)."""
    for layer in ("pool5", "fc6", "fc8"):
        coarse = extractor.extract(image, layer=layer, stride="coarse")
        fine = extractor.extract(image, layer=layer, stride="fine")
        np.testing.assert_allclose(fine[::2, ::2], coarse, rtol=1e-5, atol=1e-5, err_msg=layer)
    assert fine.shape[:2] == tuple(extractor.arch.output_size(n, "fine") for n in image.shape[:2])


def test_layers_before_the_last_pool_ignore_the_stride(extractor, image):
    np.testing.assert_array_equal(extractor.extract(image, layer="conv3", stride="fine"),
                                  extractor.extract(image, layer="conv3"))


def test_bad_requests(extractor, image):
    with pytest.raises(ValueError, match="unknown layer.*conv9.*its layers are: conv1"):
        extractor.extract(image, layer="conv9")
    with pytest.raises(ValueError, match="stride must be"):
        extractor.extract(image, layer="conv1", stride="medium")
    with pytest.raises(ValueError, match="smaller than the fast_small network's 59x59"):
        extractor.extract(image[:50], layer="conv1")
    with pytest.raises(ValueError, match="one size"):
        extractor.extract([image, image[:70]], layer="conv1")
    with pytest.raises(ValueError, match="no images"):
        extractor.extract([], layer="conv1")


def test_from_checkpoint(extractor, image, tmp_path):
    directory = weights.save_model(extractor.model, tmp_path / "c",
                                   class_names=extractor.class_names)
    loaded = FeatureExtractor.from_checkpoint(directory)
    assert loaded.class_names == extractor.class_names
    np.testing.assert_array_equal(loaded.extract(image, layer="fc8"),
                                  extractor.extract(image, layer="fc8"))


def test_release_module_indices_are_the_documented_ones():
    # weight_format.md's module lists, the activations (after ReLU / pool / logits).
    assert release_module_indices("fast") == {
        2: "conv1", 3: "pool1", 5: "conv2", 6: "pool2", 9: "conv3", 12: "conv4", 15: "conv5",
        16: "pool5", 18: "fc6", 20: "fc7", 21: "fc8"}
    assert release_module_indices("accurate") == {
        2: "conv1", 3: "pool1", 5: "conv2", 6: "pool2", 9: "conv3", 12: "conv4", 15: "conv5",
        18: "conv6", 19: "pool6", 21: "fc7", 23: "fc8", 24: "fc9"}
    assert release_layer_name("accurate", 19) == "pool6"
    with pytest.raises(ValueError, match="pre-ReLU"):
        release_layer_name("fast", 19)  # fc7 before its ReLU


def test_classify_is_the_softmax_of_the_central_view(extractor):
    image = np.random.default_rng(3).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    view = classification_view(image, 59)
    assert view.shape == (59, 59, 3)
    resized = resize_shorter_side(image, 59)
    assert resized.shape == (59, 89, 3)  # 120 * 59 / 80 = 88.5, rounded half up
    np.testing.assert_array_equal(view, resized[:, 15:74])  # left = (89 - 59) // 2
    logits = extractor.extract(view, layer="fc8")[0, 0].astype(np.float64)  # [C]
    expected = np.exp(logits - logits.max())
    expected /= expected.sum()
    probabilities = class_probabilities(extractor, [image])
    np.testing.assert_allclose(probabilities[0], expected, rtol=1e-5)
    (top,) = classify(extractor, [image], top=3)
    order = np.argsort(-expected)[:3]
    assert [score.index for score in top] == order.tolist()
    assert [score.name for score in top] == [f"class{i}" for i in order]
    assert top[0].probability >= top[1].probability >= top[2].probability
    with pytest.raises(ValueError, match="top"):
        classify(extractor, [image], top=0)


def test_precision_is_compiled_into_the_forward_pass(image):
    """``precision="highest"`` keeps GPUs from computing float32 convolutions in TF32."""
    extractor = FeatureExtractor(random_model("fast_small", num_classes=3), precision="highest")
    extractor.extract(image, layer="fc8")
    (compiled,) = extractor._compiled.values()
    assert "operand_precision={highest,highest}" in compiled.as_text()

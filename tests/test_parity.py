"""Layer-exact parity with the original OverFeat binary, on synthetic weights.

``../shared/reference/parity/*.npz`` hold what the original release (built from source)
computed for every layer on the synthetic weights and images (layout ``[C, H, W]``). We load
the same weight files through ``overfeat.weights`` and extract every layer through
``overfeat.features``; each must agree to ``max|ours - theirs| <= 1e-4 * max|theirs|``.

At sizes beyond the nominal one the binary's outputs are not stored, so a plain NumPy
forward of the release's definition (weight_format.md: module sequence, scalar
normalization, Threshold(0, 1e-6), floor pooling), reading the file by its own offsets, is
the reference; it is itself checked against the binary at the nominal size first.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from release_files import PARITY_DIR

from overfeat.features import FeatureExtractor

TOLERANCE = 1e-4  # relative to the largest magnitude of the reference layer
PARITY_FILES = {"fast": "fast_seed1_231x231.npz", "accurate": "accurate_seed2_221x221.npz"}
NET_INDEX = {"fast": 0, "accurate": 1}

# The release's networks as weight_format.md lists them, written out independently of
# overfeat.architectures: ("conv", stride, pad) | ("pool", window) | ("logits",).
RELEASE_MODULES = {
    "fast": [("conv", 4, 0), ("pool", 2), ("conv", 1, 0), ("pool", 2), ("conv", 1, 1),
             ("conv", 1, 1), ("conv", 1, 1), ("pool", 2), ("conv", 1, 0), ("conv", 1, 0),
             ("logits",)],
    "accurate": [("conv", 2, 0), ("pool", 3), ("conv", 1, 0), ("pool", 2), ("conv", 1, 1),
                 ("conv", 1, 1), ("conv", 1, 1), ("conv", 1, 1), ("pool", 3), ("conv", 1, 0),
                 ("conv", 1, 0), ("logits",)],
}
RELEASE_MEAN, RELEASE_STD = 118.380948, 61.896913


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def numpy_release_forward(path, net: int, layout, modules, image: np.ndarray) -> list[np.ndarray]:
    """Every module's output ``[C, H, W]`` (convs after the threshold), input ``uint8
    [H, W, 3]``. Convolutions as patch tensors contracted with ``W[out, in, kh, kw]``."""
    floats = np.memmap(path, dtype="<f4", mode="r")
    x = (image.transpose(2, 0, 1).astype(np.float32) - RELEASE_MEAN) / RELEASE_STD  # [3, H, W]
    shapes, offset, outputs = iter(layout[net]), 0, []
    for module in modules:
        if module[0] == "pool":
            p = module[1]
            c, h, w = x.shape
            x = x[:, : h // p * p, : w // p * p].reshape(c, h // p, p, w // p, p).max(axis=(2, 4))
        else:
            out_ch, in_ch, k = next(shapes)
            weight = floats[offset : offset + out_ch * in_ch * k * k].reshape(out_ch, in_ch, k, k)
            offset += weight.size
            bias = floats[offset : offset + out_ch]
            offset += out_ch
            stride, pad = module[1:] if module[0] == "conv" else (1, 0)
            x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
            patches = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
            x = np.tensordot(weight, patches, axes=([1, 2, 3], [0, 3, 4])) + bias[:, None, None]
            if module[0] == "conv":
                x = np.where(x > 1e-6, x, np.float32(0))  # the release's Threshold(0, 1e-6)
        outputs.append(x)
    return outputs


@pytest.fixture(scope="module", params=["fast", "accurate"])
def release_extractor(request, synthetic_release):
    arch = request.param
    # Full float32 also on GPUs, whose default would be TF32 (the CPU computes float32 anyway).
    return arch, FeatureExtractor.from_release(arch, synthetic_release[arch], precision="highest")


def test_synthetic_images_are_the_parity_images(parity_images):
    for arch, side in (("fast", 231), ("accurate", 221)):
        with Image.open(parity_images[arch]) as ours, \
                Image.open(PARITY_DIR / f"img{side}.png") as shipped:
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(shipped))


def test_every_layer_matches_the_original_binary(release_extractor, parity_images):
    arch, extractor = release_extractor
    reference = np.load(PARITY_DIR / PARITY_FILES[arch])
    assert set(reference.files) == set(extractor.layer_names)
    ours = extractor.extract(parity_images[arch], layer=reference.files, stride="coarse")
    errors = {}
    for name in reference.files:
        theirs = reference[name]  # [C, H, W]
        mine = ours[name].transpose(2, 0, 1)
        assert mine.shape == theirs.shape, name
        errors[name] = relative_error(mine, theirs)
    print(f"\n{arch} max|ours - theirs| / max|theirs| per layer:",
          {name: f"{error:.1e}" for name, error in errors.items()})
    assert max(errors.values()) <= TOLERANCE, errors


def test_numpy_reference_matches_the_original_binary(synthetic_release, synthetic_release_module):
    """The reference the next test trusts, checked against the binary (fast net, 231x231)."""
    reference = np.load(PARITY_DIR / "fast_seed1_231x231.npz")
    image = synthetic_release_module.image(231, 231)
    outputs = numpy_release_forward(
        synthetic_release["fast"], 0, synthetic_release_module.LAYOUT, RELEASE_MODULES["fast"],
        image,
    )
    # Module outputs in order: conv1 pool1 conv2 pool2 conv3 conv4 conv5 pool5 fc6 fc7 fc8.
    for name, output in zip(reference.files, outputs, strict=True):
        assert relative_error(output, reference[name]) <= TOLERANCE, name


@pytest.mark.parametrize("height, width", [(270, 300)])
def test_coarse_maps_of_a_large_non_square_image_match_numpy(
    release_extractor, synthetic_release, synthetic_release_module, height, width
):
    """270x300 gives 2x3 coarse outputs in both nets, and layers that drop trailing rows
    and columns (floor pooling), e.g. the fast net's conv1 map is 65x73."""
    arch, extractor = release_extractor
    image = synthetic_release_module.image(height, width)
    outputs = numpy_release_forward(
        synthetic_release[arch], NET_INDEX[arch], synthetic_release_module.LAYOUT,
        RELEASE_MODULES[arch], image,
    )
    last_pool = extractor.arch.last_pool.name
    logits_name = extractor.arch.classifier_names[-1]
    ours = extractor.extract(image, layer=(last_pool, logits_name), stride="coarse")
    pooled, logits = outputs[-4], outputs[-1]  # the last pool, then fc, fc, logits
    assert logits.shape[1:] == (2, 3) == ours[logits_name].shape[:2]
    errors = (relative_error(ours[last_pool].transpose(2, 0, 1), pooled),
              relative_error(ours[logits_name].transpose(2, 0, 1), logits))
    print(f"\n{arch} {height}x{width} vs NumPy: {last_pool} {errors[0]:.1e}, "
          f"{logits_name} {errors[1]:.1e}")
    assert max(errors) <= TOLERANCE

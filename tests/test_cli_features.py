"""``overfeat features`` / ``classify`` / ``convert-weights`` end to end on a small checkpoint."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from random_models import random_model

from overfeat import cli, weights
from overfeat.features import FeatureExtractor
from overfeat.predict import classify

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A fast_small checkpoint with named classes and three images (two share a size)."""
    root = tmp_path_factory.mktemp("cli")
    model = random_model("fast_small", num_classes=4, seed=5)
    checkpoint = weights.save_model(model, root / "ckpt", class_names=["ant", "bee", "cat", "dog"])
    rng = np.random.default_rng(1)
    images = []
    for name, shape in (("a.png", (75, 91)), ("b.jpg", (75, 91)), ("c.ppm", (64, 70))):
        path = root / name
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(path)
        images.append(str(path))
    return root, str(checkpoint), images


def test_features_to_npy(setup, capsys):
    root, checkpoint, images = setup
    out = root / "a.npy"
    assert cli.main(["features", images[0], "--checkpoint", checkpoint, "--layer", "fc7",
                     "--stride", "fine", "--out", str(out)]) == 0
    expected = FeatureExtractor.from_checkpoint(checkpoint).extract(images[0], layer="fc7",
                                                                    stride="fine")
    np.testing.assert_array_equal(np.load(out), expected)
    assert np.load(out).dtype == np.float32
    assert f"fc7 {'x'.join(map(str, expected.shape))} -> {out}" in capsys.readouterr().out


def test_features_of_several_images_to_npz_and_to_a_directory(setup):
    root, checkpoint, images = setup
    extractor = FeatureExtractor.from_checkpoint(checkpoint)
    assert cli.main(["features", *images, "--checkpoint", checkpoint, "--layer", "pool2",
                     "--size", "64", "--out", str(root / "maps.npz")]) == 0
    with np.load(root / "maps.npz") as archive:
        assert sorted(archive.files) == ["a", "b", "c"]
        for key, image in zip("abc", images, strict=True):
            np.testing.assert_array_equal(archive[key],
                                          extractor.extract(image, layer="pool2", size=64))
    assert cli.main(["features", *images, "--checkpoint", checkpoint, "--layer", "conv1",
                     "--out", str(root / "maps")]) == 0
    for key, image in zip("abc", images, strict=True):
        np.testing.assert_array_equal(np.load(root / "maps" / f"{key}.npy"),
                                      extractor.extract(image, layer="conv1"))


@pytest.mark.parametrize("args, message", [
    (["IMAGES", "--layer", "fc7", "--out", "x.npy"], "holds one image's maps"),
    (["--layer", "conv9", "--out", "x.npy"], "unknown layer 'conv9'"),
    (["--layer", "conv1", "--out", "x.npy", "--arch", "fast"], "--arch goes with --weights"),
])
def test_features_errors(setup, capsys, args, message):
    root, checkpoint, images = setup
    args = [a.replace("x.npy", str(root / "x.npy")) for a in args]
    if args[0] == "IMAGES":
        args = images[1:] + args[1:]
    assert cli.main(["features", images[0], *args, "--checkpoint", checkpoint]) == 2
    assert message in capsys.readouterr().err


def test_features_names_an_unreadable_image(setup, capsys):
    root, checkpoint, _ = setup
    (root / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert cli.main(["features", str(root / "bad.jpg"), "--checkpoint", checkpoint,
                     "--layer", "conv1", "--out", str(root / "bad.npy")]) == 2
    assert f"{root / 'bad.jpg'}: " in capsys.readouterr().err


def test_classify_prints_names_and_probabilities(setup, capsys):
    _, checkpoint, images = setup
    assert cli.main(["classify", images[0], images[2], "--checkpoint", checkpoint,
                     "--top", "2", "--scales", "center", "--no-flips"]) == 0
    lines = capsys.readouterr().out.splitlines()
    extractor = FeatureExtractor.from_checkpoint(checkpoint)
    expected = classify(extractor, [images[0], images[2]], top=2)
    assert lines[0] == images[0] and lines[3] == images[2]
    for offset, scores in zip((0, 3), expected, strict=True):
        for rank, score in enumerate(scores, 1):
            assert lines[offset + rank] == f"  {rank}. {score.probability:.4f}  {score.name}"


def test_weight_files_of_no_release_size_are_refused(setup, capsys):
    root, _, images = setup
    (root / "tiny").write_bytes(b"\0" * 64)
    assert cli.main(["convert-weights", "--weights", str(root / "tiny"),
                     "--out", str(root / "out")]) == 2
    assert "has the size of neither release file" in capsys.readouterr().err
    assert cli.main(["classify", images[0], "--weights", str(root / "tiny"), "--arch", "fast"]) == 2
    assert "truncated: 64 bytes" in capsys.readouterr().err
    assert not (root / "out").exists()


def test_user_errors_through_python_dash_m(setup):
    """As a separate process (``python -m overfeat.cli``): one line on stderr, status 2."""
    root, _, images = setup
    (root / "tiny2").write_bytes(b"\0" * 8)
    result = subprocess.run(
        [sys.executable, "-m", "overfeat.cli", "classify", images[0], "--weights",
         str(root / "tiny2")], capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("overfeat classify: error: ")
    assert "Traceback" not in result.stderr

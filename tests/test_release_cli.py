"""The commands end to end on the synthetic release weights, checked against the original
binary's outputs (``../shared/reference/parity``)."""

from __future__ import annotations

import json

import numpy as np
from release_files import PARITY_DIR

from overfeat import cli, imagenet_classes


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return z / z.sum()


def test_features_matches_the_binary(synthetic_release, parity_images, tmp_path):
    out = tmp_path / "pool5.npy"
    assert cli.main(["features", str(parity_images["fast"]), "--weights",
                     str(synthetic_release["fast"]), "--layer", "16", "--out", str(out)]) == 0
    theirs = np.load(PARITY_DIR / "fast_seed1_231x231.npz")["pool5"]  # module 16 = pool5
    ours = np.load(out).transpose(2, 0, 1)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()


def test_classify_matches_the_binary(synthetic_release, parity_images, capsys):
    """The 221x221 image is the accurate net's view already: the binary's logits, softmaxed."""
    assert cli.main(["classify", str(parity_images["accurate"]), "--weights",
                     str(synthetic_release["accurate"]), "--top", "3", "--scales", "center",
                     "--no-flips"]) == 0
    probabilities = softmax(np.load(PARITY_DIR / "accurate_seed2_221x221.npz")["fc9"][:, 0, 0])
    best = np.argsort(-probabilities)[:3]
    names = imagenet_classes.release_class_names()
    lines = capsys.readouterr().out.splitlines()[1:]
    for rank, (line, index) in enumerate(zip(lines, best, strict=True), 1):
        probability, name = line.split(maxsplit=2)[1:]
        assert line.startswith(f"  {rank}. ") and name == names[index]
        assert abs(float(probability) - probabilities[index]) <= 1e-4


def test_convert_weights_in_tfds_order(synthetic_release, parity_images, tmp_path, capsys):
    out = tmp_path / "fast_tfds"
    assert cli.main(["convert-weights", "--weights", str(synthetic_release["fast"]),
                     "--out", str(out), "--class-order", "tfds"]) == 0
    info = json.loads((out / "overfeat.json").read_text())
    assert info["arch"] == "fast" and info["num_classes"] == 1000
    assert info["class_ids"] == list(imagenet_classes.tfds_wnids())
    assert info["mean"] == [118.380948] * 3 or np.allclose(info["mean"], 118.380948)
    assert cli.main(["features", str(parity_images["fast"]), "--checkpoint", str(out),
                     "--layer", "fc8", "--out", str(tmp_path / "fc8.npy")]) == 0
    release_logits = np.load(PARITY_DIR / "fast_seed1_231x231.npz")["fc8"][:, 0, 0]
    ours = np.load(tmp_path / "fc8.npy")[0, 0]  # [1000] in TFDS order
    theirs = release_logits[imagenet_classes.tfds_to_release()]
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()
    assert cli.main(["convert-weights", "--weights", str(synthetic_release["fast"]),
                     "--out", str(out)]) == 2
    assert "exists: pass --overwrite" in capsys.readouterr().err

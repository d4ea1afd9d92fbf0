"""``overfeat data show`` and ``overfeat data stats``, in process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from overfeat import cli
from overfeat.commands.data import collect_stats
from overfeat.data.sources import open_source, parse_name

DETECT = "synthetic/detect?size=64&examples=30"


def test_show_draws_the_boxes_where_the_source_puts_them(tmp_path):
    assert cli.main(["data", "show", f"{DETECT}:validation", "--count", "3", "--start", "2",
                     "--zoom", "2", "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in written] == [f"synthetic_detect_validation_00000{i}.png"
                                         for i in (2, 3, 4)]
    source = open_source(DETECT, "validation")
    for path, index in zip(written, (2, 3, 4), strict=True):
        with Image.open(path) as image:
            drawn = np.asarray(image.convert("RGB"))
        example = source[index]
        assert drawn.shape == (128, 128, 3)
        changed = np.abs(drawn[::2, ::2].astype(int) - example["image"]).sum(-1) > 0
        if len(example["boxes"]) == 0:
            assert not changed[:52].any()  # only the label strip at the bottom, if anything
        for x0, y0, x1, y1 in example["boxes"].astype(int):
            # The outline runs along the box's top-left edges (the zoomed pixel at x0, y0).
            assert changed[y0, x0:x1].mean() > 0.5 or changed[y0:y1, x0].mean() > 0.5


def test_show_with_the_training_view_writes_crops(tmp_path):
    assert cli.main(["data", "show", "synthetic/classify?examples=4", "--count", "2",
                     "--train-view", "classify", "--arch", "fast_small", "--zoom", "1",
                     "--out", str(tmp_path)]) == 0
    sizes = set()
    for path in tmp_path.glob("*.png"):
        with Image.open(path) as image:
            sizes.add(image.size)
    assert sizes == {(59, 59)}  # fast_small's field of view


def test_stats_counts_what_the_source_holds(capsys):
    assert cli.main(["data", "stats", DETECT, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    source = open_source(DETECT, "train")
    examples = [source[i] for i in range(len(source))]
    counts = [len(e["boxes"]) for e in examples]
    assert stats["examples"] == 30 and stats["boxes"] == sum(counts)
    assert stats["images_without_boxes"] == counts.count(0)
    assert stats["most_boxes_in_an_image"] == max(counts)
    assert sum(stats["boxes_per_class"].values()) == sum(counts)
    assert sum(stats["box_size_histogram"]) == sum(counts)
    disc = sum(int((e["labels"] == 0).sum()) for e in examples)
    assert stats["boxes_per_class"].get("disc", 0) == disc
    assert collect_stats(source, limit=5)["examples"] == 5


def test_stats_prints_histograms(capsys):
    assert cli.main(["data", "stats", "synthetic/localize?size=48&examples=12:test"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("synthetic/localize?size=48&examples=12:test: 12 examples")
    assert "images per class:" in out and "box size (sqrt(area) / shorter image side):" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["data", "stats", "voc/2007:test", "--data-dir", "empty"], "is not prepared"),
    (["data", "stats", "synthetic/track"], "task"),
    (["data", "show", "synthetic/detect?examples=3", "--start", "5", "--out", "x"], "nothing"),
])
def test_errors_are_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("overfeat data: error:") and message in error
    assert error.count("\n") == 1


def test_parse_name():
    assert parse_name("synthetic/detect") == ("synthetic/detect", "train")
    assert parse_name("synthetic/detect?size=64:validation") == ("synthetic/detect?size=64",
                                                                 "validation")
    assert parse_name("voc/2007:5.0.0") == ("voc/2007:5.0.0", "train")
    assert parse_name("voc/2007:5.0.0:test") == ("voc/2007:5.0.0", "test")
    assert parse_name("imagenet2012:train[:100]") == ("imagenet2012", "train[:100]")

"""``scripts/benchmark_learning.py`` at its smallest: the own-data walk-through at two steps per
job on 24 small images, measured, tabled and ended by one JSON object."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "benchmark_learning.py"
# 64x64 shapes of 4 classes, large and uncluttered: the smallest export that prepares.
SMALL_SOURCE = "synthetic/detect?size=64&classes=4&min_scale=0.4&clutter=0"


def load_script():
    """The script imported by its path (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("benchmark_learning", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_takes_a_subset_of_the_runs_in_their_order():
    script = load_script()
    assert script.parse_runs("own,quick") == ["quick", "own"]
    for bad in ("", "slow", "quick,everything"):
        with pytest.raises(Exception, match="subset of quick,full,own"):
            script.parse_runs(bad)


@pytest.mark.slow  # ~30 s on the 2-core machine: three training jobs and an evaluation compile
def test_own_data_smoke_run_ends_with_every_figure(tmp_path, monkeypatch, capsys):
    # The script points TFDS_DATA_DIR at its folder; monkeypatch restores it afterwards.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "unused"))
    load_script().main([
        "--only", "own", "--out", str(tmp_path), "--source", SMALL_SOURCE, "--count", "24",
        "--own-steps", "2", "--own-config", "batch_size=4", "--own-config", "eval_batches=1",
        "--own-config", "progress_bar=False", "--own-eval-limit", "2"])
    stdout = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(stdout[-1])
    own = summary["runs"]["own"]
    assert list(summary["runs"]) == ["own"]
    assert list(own["steps"]) == ["export", "prepare", "train classify", "train localize",
                                  "train detect", "evaluate detect"]
    for seconds in (own, *own["steps"].values(), own["quality"]):
        assert seconds["wall_s"] > 0 and seconds["cpu_s"] >= 0
    assert own["metrics"]["detect"]["num_images"] == 2
    assert 0.0 <= own["metrics"]["detect"]["mAP"] <= 1.0
    quality = own["quality"]
    assert quality["score_threshold"] == summary["score_threshold"]
    # 4 of each kind: noise, flat, gradient, photo (matplotlib is a test dependency)
    assert quality["false_boxes_per_empty_image"]["images"] == 16
    assert quality["objects"]["objects"] > 0  # the held-out images' objects were counted
    assert (tmp_path / "own" / "tensorflow_datasets").is_dir()  # not ~/tensorflow_datasets
    assert (tmp_path / "own" / "localize" / "config.json").is_file()
    started_from = json.loads((tmp_path / "own" / "detect" / "config.json").read_text())
    assert started_from["model"]["init_from"] == str(tmp_path / "own" / "localize")
    assert stdout[1].split()[:4] == ["run", "cls", "top-1", "loc"]
    assert stdout[2].startswith("own ")

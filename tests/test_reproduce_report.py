"""The paper-reproduction report on made-up results: the spread over seeds, the tables, the
paper's directions, the plots, and what each seed trains and evaluates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from overfeat.evaluation import experiments
from overfeat.evaluation.experiments import SCALE_SETS, Spread, summarize

REPO = Path(__file__).resolve().parents[1]


def fake_records(seeds=3):
    """Every evaluation of ``seeds`` seeds, with errors that fall with the number of scales,
    fine below coarse, shared below per-class, greedy better than NMS, plus seed noise."""
    rng = np.random.default_rng(0)
    records = []
    for seed in range(seeds):
        for spec in experiments.evaluations():
            count = len(spec.options["scales"])
            base = 0.5 - 0.03 * count
            base += 0.05 * (spec.options.get("stride") == "coarse")
            base += 0.1 * ("per_class" in spec.job) + 0.04 * (spec.options.get("merge") == "nms")
            noise = rng.uniform(-0.005, 0.005)
            metrics = ({"mAP": 1 - base + noise} if spec.task == "detect"
                       else {"top1_error": base + 0.2 + noise, "top5_error": base + noise})
            records.append({"experiment": spec.experiment, "row": spec.row, "seed": seed,
                            "setting": {}, "metrics": metrics | {"num_images": 10}})
    return records


def test_spread_by_hand():
    spread = Spread.of([0.1, 0.2, 0.6])
    assert spread.mean == pytest.approx(0.3)
    assert spread.std == pytest.approx(np.sqrt(((0.2) ** 2 + 0.1 ** 2 + 0.3 ** 2) / 2))
    assert (spread.low, spread.high, spread.count) == (0.1, 0.6, 3)
    assert spread.percent() == "30.0 ± 26.5 [10.0-60.0]"
    assert Spread.of([0.25]).std == 0.0


def test_summarize_groups_seeds_per_row():
    records = fake_records()
    summary = summarize(records)
    row = "fine stride, 4 scales (1,2,4,6)"
    values = [r["metrics"]["top5_error"] for r in records
              if r["experiment"] == "table2" and r["row"] == row]
    assert len(values) == 3
    assert summary["table2"][row]["top5_error"].mean == pytest.approx(np.mean(values))
    assert "num_images" not in summary["table2"][row]
    assert len(summary["table2"]) == 8 and len(summary["fig9"]) == 8
    assert list(summary["merge_detect"]) == ["greedy", "nms"]


def test_each_seed_trains_four_jobs_and_evaluates_twenty_settings(tmp_path):
    jobs = {job.name: job for job in experiments.training_jobs()}
    assert list(jobs) == ["classify", "localize_shared", "localize_per_class", "detect"]
    command = jobs["localize_per_class"].command(2, tmp_path, quick=True)
    assert command[:3] == ["train", "--config", "synthetic:localize,quick"]
    assert "--config.seed=2" in command and "--config.model.regressor=per_class" in command
    assert f"--config.model.init_from={tmp_path / 'classify'}" in command
    specs = experiments.evaluations()
    assert len(specs) == 20 and len({spec.key(0) for spec in specs}) == 20
    assert {spec.job for spec in specs} <= set(jobs)
    assert {tuple(spec.options["scales"]) for spec in specs} == set(SCALE_SETS.values())


def test_directions_and_tables():
    summary = summarize(fake_records())
    directions = experiments.paper_directions(summary)
    assert [verdict for _, verdict, _ in directions] == ["yes"] * len(directions)
    # Swap greedy and NMS: that direction no longer holds, the others still do.
    swapped = [r | {"row": {"greedy": "nms", "nms": "greedy"}[r["row"]]}
               if r["experiment"] == "merge_detect" else r for r in fake_records()]
    verdicts = {claim: holds for claim, holds, _ in
                experiments.paper_directions(summarize(swapped))}
    assert verdicts.pop("greedy merge beats NMS on detection mAP") == "no"
    assert set(verdicts.values()) == {"yes"}
    # Equal means are a tie; a gap below the seeds' spread is flagged.
    summary["table2"]["fine stride, scale 1"]["top5_error"] = Spread(0.3, 0.01, 0.29, 0.31, 3)
    summary["table2"]["coarse stride, scale 1"]["top5_error"] = Spread(0.3, 0.0, 0.3, 0.3, 3)
    summary["table2"]["fine stride, 4 scales (1,2,4,6)"]["top5_error"] = Spread(
        0.29, 0.02, 0.27, 0.31, 3)
    verdicts = [verdict for _, verdict, _ in experiments.paper_directions(summary)]
    assert verdicts[:2] == ["tie", "yes (within spread)"]
    del summary["merge_detect"]
    assert experiments.paper_directions(summary)[-1][1:] == ("n/a", "not measured")
    tables = experiments.markdown_tables(summarize(fake_records()))
    assert tables.count("3 seeds") == 4
    assert "| coarse stride, scale 1 |" in tables and "| greedy |" in tables


def test_report_only_writes_markdown_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    records = fake_records()
    with open(tmp_path / "results.jsonl", "w") as file:
        for record in records + records[:5]:  # a seed run twice: its first records count
            file.write(json.dumps(record | {"seconds": 1.0}) + "\n")
    assert experiments.read_records(tmp_path / "results.jsonl") == [
        r | {"seconds": 1.0} for r in records]
    completed = subprocess.run(
        [sys.executable, "scripts/reproduce_paper.py", "--out", str(tmp_path), "--report-only"],
        cwd=REPO, capture_output=True, text=True, check=True,
        env=os.environ | {"PYTHONPATH": str(REPO)})  # this checkout's package, not another
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["records"] == 60
    report = (tmp_path / "report.md").read_text()
    for name in ("table2_classification.png", "fig9_localization.png",
                 "merge_greedy_vs_nms.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in report
    assert "| fine stride beats coarse at one scale (Table 2) | yes |" in report

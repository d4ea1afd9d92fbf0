"""Where training metrics go: ``metrics.jsonl`` (one JSON object per line), TensorBoard event
files (tensorboardX: pure Python, no TensorFlow), and a tqdm progress bar with loss,
throughput and ETA. Only the first host writes."""

from __future__ import annotations

import json
import math
import pathlib
import time

import jax
import tqdm


class MetricsLog:
    """Appends to ``WORKDIR/metrics.jsonl`` and ``WORKDIR/tensorboard/``.

    Rows look like ``{"step": 100, "split": "train", "loss": 2.1, "learning_rate": 0.05,
    "images_per_s": 310.0, "time": 1700000000.0}``. A resumed job appends to the same files, so
    a restarted job's curve continues where it stopped (rows past the resumed step from the
    killed run may appear twice; readers keep the last row per (split, step)).
    """

    def __init__(self, workdir: str | pathlib.Path, *, enabled: bool | None = None):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self._file = None
        self._writer = None
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(pathlib.Path(workdir) / "tensorboard"))

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = {key: _number(value) for key, value in metrics.items()}
        row = {"step": int(step), "split": split, **clean, "time": time.time()}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        for key, value in clean.items():
            if value is not None:
                self._writer.add_scalar(f"{split}/{key}", value, int(step))
        self._writer.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def read_metrics(workdir: str | pathlib.Path, split: str | None = None) -> list[dict]:
    """The rows of ``metrics.jsonl``, the last one kept per (split, step), in step order."""
    rows: dict[tuple[str, int], dict] = {}
    path = pathlib.Path(workdir) / "metrics.jsonl"
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if split is None or row["split"] == split:
            rows[(row["split"], row["step"])] = row
    return sorted(rows.values(), key=lambda row: (row["step"], row["split"]))


class Progress:
    """A tqdm bar over the training steps: loss, images/s, and tqdm's own ETA."""

    def __init__(self, total: int, initial: int, *, enabled: bool, description: str):
        self._bar = tqdm.tqdm(
            total=total,
            initial=initial,
            disable=not enabled or jax.process_index() != 0,
            desc=description,
            unit="step",
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def update(self, steps: int, **postfix) -> None:
        if postfix:
            self._bar.set_postfix(
                {key: f"{value:.4g}" for key, value in postfix.items()}, refresh=False
            )
        self._bar.update(steps)

    def write(self, text: str) -> None:
        self._bar.write(text) if not self._bar.disable else None

    def close(self) -> None:
        self._bar.close()

"""Trained models out of a training job, in the package's model format
(``overfeat.weights.save_model``), so that ``overfeat classify/localize/detect --checkpoint DIR``
use them: ``WORKDIR/model`` (final) and ``WORKDIR/best`` (best evaluation so far, with
``best.json`` naming its step and metric)."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import jax


def save(
    model,
    directory: str | pathlib.Path,
    class_names,
    *,
    background_class: bool = False,
    metadata: dict | None = None,
) -> None:
    """Write ``model`` to ``directory``, replacing an earlier export (``save_model`` writes
    beside it and renames, so a reader never sees half a model)."""
    from overfeat.weights import save_model

    save_model(
        model,
        directory,
        class_names=list(class_names),
        background_class=background_class,
        metadata=metadata,
        overwrite=True,
    )


class BestModel:
    """Keeps ``WORKDIR/best`` the model with the best ``metric`` seen (``mode`` min or max);
    its record survives restarts in ``WORKDIR/best/../best.json``."""

    def __init__(self, workdir: pathlib.Path, metric: str, mode: str, **save_options):
        self.save_options = save_options
        self.directory = pathlib.Path(workdir) / "best"
        self.record_path = pathlib.Path(workdir) / "best.json"
        self.metric, self.mode = metric, mode
        self.record = (
            json.loads(self.record_path.read_text()) if self.record_path.exists() else None
        )

    def better(self, value: float) -> bool:
        if self.record is None:
            return True
        previous = self.record[self.metric]
        return value < previous if self.mode == "min" else value > previous

    def consider(
        self, step: int, metrics: dict, model_fn: Callable, class_names, *, enabled: bool = True
    ) -> bool:
        """Export the current model when ``metrics[metric]`` beats the record."""
        value = metrics.get(self.metric)
        if not enabled or value is None or not self.better(value):
            return False
        self.record = {"step": int(step), self.metric: float(value)}
        if jax.process_index() == 0:
            save(
                model_fn(),
                self.directory,
                class_names,
                **self.save_options,
                metadata={"best": self.record},
            )
            self.record_path.write_text(json.dumps(self.record) + "\n")
        return True

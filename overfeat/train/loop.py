"""The training loop shared by the classifier, the regressor and the detector.

``train(config, workdir)`` builds the job (mesh, data, model, optimizer), resumes from the
latest checkpoint in ``workdir`` if there is one, and runs to ``total_steps``: logging every
``log_every`` steps, evaluating every ``eval_every``, checkpointing every
``checkpoint.every_steps``, and on SIGTERM (preemption) saving and returning early. The final
and best models are exported in the package's model format (``overfeat.weights``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import pathlib
import signal
import sys
import time
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from overfeat.architectures import Architecture, get_architecture
from overfeat.data.object_crops import ObjectCrops
from overfeat.train import export, inputs, optim, sharding, steps
from overfeat.train.checkpointing import Checkpointer
from overfeat.train.metrics_log import MetricsLog, Progress
from overfeat.train.task import Task


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the first such step."""


@dataclasses.dataclass
class TrainResult:
    step: int  # the last completed step
    total_steps: int
    preempted: bool
    final_metrics: dict  # the last evaluation's metrics ({} if none ran)
    workdir: pathlib.Path


TASK_CLASSES = {
    "classify": "overfeat.train.classifier:ClassifierTask",
    "localize": "overfeat.train.regressor:RegressorTask",
    "detect": "overfeat.train.detector:DetectorTask",
}


def get_task(config: ml_collections.ConfigDict) -> Task:
    module, _, name = TASK_CLASSES[config.task].partition(":")
    return getattr(importlib.import_module(module), name)(config)


@dataclasses.dataclass
class Job:
    """Everything a run holds, built once by ``build_job``."""

    config: ml_collections.ConfigDict
    workdir: pathlib.Path
    task: Task
    mesh: jax.sharding.Mesh
    graphdef: object
    state: dict
    class_names: tuple[str, ...]
    train_iterator: Iterator
    eval_source: object
    arch: Architecture
    data_classes: int  # classes of the data (the detector's model has one more)
    local_batch_size: int
    steps_per_epoch: int
    total_steps: int
    train_step: object
    eval_step: object


def build_job(config, workdir, *, train_source=None, eval_source=None) -> Job:
    """Build a job from its config; ``train_source``/``eval_source`` replace the dataset named
    by ``config.dataset`` (tests, custom data)."""
    sharding.maybe_initialize_distributed(config.distributed)
    workdir = pathlib.Path(workdir)
    mesh = sharding.make_mesh()
    local_batch = sharding.local_batch_size(config.batch_size, mesh)
    task = get_task(config)
    train_source = (
        train_source
        if train_source is not None
        else inputs.open_dataset(config, config.train_split)
    )
    if eval_source is None and config.eval_split:
        eval_source = inputs.open_dataset(config, config.eval_split)
    if isinstance(train_source, ObjectCrops) and jax.process_index() == 0:
        print(f"overfeat train: {config.dataset} has no image labels; {config.task} reads its "
              f"objects as crops ({train_source})", flush=True)
    num_classes = config.num_classes or len(inputs.class_names_of(train_source, 0))
    if num_classes < 1:
        raise ValueError(f"dataset {config.dataset!r} names no classes: set config.num_classes")
    class_names = inputs.class_names_of(train_source, num_classes)[:num_classes]
    if task.background_class:
        class_names = (*class_names, "background")

    steps_per_epoch = config.steps_per_epoch or max(len(train_source) // config.batch_size, 1)
    total_steps = config.num_train_steps or math.ceil(config.num_epochs * steps_per_epoch)
    optimizer = optim.make_optimizer(config, steps_per_epoch)
    schedule = optim.learning_rate_schedule(config, steps_per_epoch)

    model = task.build_model(config, num_classes)
    graphdef, params, frozen = steps.split_model(model, task.trainable(config))
    state = sharding.replicate(steps.init_state(params, frozen, optimizer, config.seed), mesh)
    arch = get_architecture(config.arch)
    train_iterator = iter(
        inputs.train_dataset(
            train_source,
            config,
            task=task.name,
            arch=arch,
            local_batch_size=local_batch,
            num_classes=num_classes,
        )
    )
    return Job(
        config=config,
        workdir=workdir,
        task=task,
        mesh=mesh,
        graphdef=graphdef,
        state=state,
        class_names=class_names,
        train_iterator=train_iterator,
        eval_source=eval_source,
        arch=arch,
        data_classes=num_classes,
        local_batch_size=local_batch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        train_step=steps.make_train_step(task, graphdef, optimizer, schedule, mesh),
        eval_step=steps.make_eval_step(task, graphdef, mesh),
    )


def train(config, workdir, *, train_source=None, eval_source=None) -> TrainResult:
    """Run (or resume) the job ``config`` in ``workdir``; see the module docstring."""
    job = build_job(config, workdir, train_source=train_source, eval_source=eval_source)
    job.workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        (job.workdir / "config.json").write_text(config.to_json_best_effort(indent=2) + "\n")
    checkpointer = Checkpointer(
        job.workdir / "checkpoints",
        keep=config.checkpoint.keep,
        async_save=config.checkpoint.async_save,
    )
    latest = checkpointer.latest_step()
    if latest is not None:
        job.state = checkpointer.restore(latest, job.state, job.train_iterator)
    if jax.process_index() == 0:
        print(_start_line(job, latest), file=sys.stderr, flush=True)
    try:
        with MetricsLog(job.workdir) as log, _PreemptionFlag() as preemption:
            return _run(job, checkpointer, log, preemption)
    finally:
        checkpointer.close()
        # grain's worker processes hold batches in shared memory until their iterator closes
        # (left to interpreter shutdown, they are reported as leaked).
        if hasattr(job.train_iterator, "close"):
            job.train_iterator.close()


def _run(job: Job, checkpointer: Checkpointer, log: MetricsLog, preemption) -> TrainResult:
    config = job.config
    step = int(jax.device_get(job.state["step"]))
    progress = Progress(
        job.total_steps, step, enabled=config.progress_bar, description=f"train {config.task}"
    )
    tracker = LossTracker(config.task, config.batch_size, log, progress)
    best = export.BestModel(job.workdir, *job.task.best_metric, **_export_options(job))
    final_metrics: dict = {}
    preempted = False
    try:
        while step < job.total_steps:
            local = inputs.device_fields(next(job.train_iterator), job.task.batch_keys)
            batch = sharding.global_batch(local, job.mesh)
            job.state, metrics = job.train_step(job.state, batch, job.task.step_size(step))
            step += 1
            tracker.add(step, metrics)
            last = step == job.total_steps
            if step % config.log_every == 0 or last:
                tracker.flush()
            if _due(step, config.eval_every) or last:
                tracker.flush()
                final_metrics = evaluate(job)
                if final_metrics:
                    log.write(step, "eval", final_metrics)
                    progress.write(f"step {step}: " + _format(final_metrics))
                    best.consider(
                        step,
                        final_metrics,
                        lambda: _host_model(job),
                        job.class_names,
                        enabled=config.export,
                    )
                tracker.restart_clock()
            preempted = preemption.requested(step)
            if _due(step, config.checkpoint.every_steps) or last or preempted:
                tracker.flush()
                checkpointer.save(step, job.state, job.train_iterator)
            if preempted:
                break
        tracker.flush()
    finally:
        progress.close()
    checkpointer.wait()
    if not preempted and config.export and jax.process_index() == 0:
        export.save(
            _host_model(job),
            job.workdir / "model",
            job.class_names,
            **_export_options(job),
            metadata={"step": step, "eval": final_metrics},
        )
    return TrainResult(step, job.total_steps, preempted, final_metrics, job.workdir)


def _start_line(job: Job, resumed_from: int | None) -> str:
    devices = job.mesh.devices.size
    platform = jax.devices()[0].platform
    start = f"resuming at step {resumed_from}" if resumed_from is not None else "from step 0"
    return (
        f"overfeat train: {job.config.task} ({job.config.arch}) on {devices} {platform} "
        f"device{'s' if devices > 1 else ''} ({jax.process_count()} host"
        f"{'s' if jax.process_count() > 1 else ''}), global batch {job.config.batch_size} "
        f"({job.config.batch_size // devices} per device), {start} to {job.total_steps}, "
        f"workdir {job.workdir}"
    )


def _export_options(job: Job) -> dict:
    return {"background_class": job.task.background_class}


def _due(step: int, every: int) -> bool:
    return every > 0 and step % every == 0


def _format(metrics: dict) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in metrics.items())


def _host_model(job: Job):
    state = jax.device_get({"params": job.state["params"], "frozen": job.state["frozen"]})
    return steps.merge_model(job.graphdef, state["params"], state["frozen"])


def evaluate(job: Job) -> dict:
    """The task's metrics on the evaluation split ({} without one)."""
    if job.eval_source is None or len(job.eval_source) == 0:
        return {}
    totals = None
    batches = inputs.eval_batches(
        job.eval_source,
        job.config,
        task=job.task.name,
        arch=job.arch,
        local_batch_size=job.local_batch_size,
        num_classes=job.data_classes,
    )
    for local in batches:
        batch = sharding.global_batch(inputs.device_fields(local, job.task.batch_keys), job.mesh)
        sums = job.eval_step(job.state["params"], job.state["frozen"], batch, job.task.eval_size())
        totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
    return job.task.summarize(jax.device_get(totals)) if totals is not None else {}


class LossTracker:
    """Collects the per-step metrics on the device and reads them back in groups (one host
    sync per ``log_every`` steps), checking every step's loss for NaN/inf."""

    def __init__(self, task: str, batch_size: int, log: MetricsLog, progress: Progress):
        self.task, self.batch_size, self.log, self.progress = task, batch_size, log, progress
        self.pending: list[tuple[int, dict]] = []
        self.clock = time.perf_counter()

    def add(self, step: int, metrics: dict) -> None:
        self.pending.append((step, metrics))
        self.progress.update(1)

    def flush(self) -> None:
        if not self.pending:
            return
        rows = [(step, jax.device_get(metrics)) for step, metrics in self.pending]
        for step, metrics in rows:
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                raise NonFiniteLossError(
                    f"the {self.task} loss is {loss} at step {step}; stopping "
                    "(lower optimizer.learning_rate, or check the data)"
                )
        now = time.perf_counter()
        images = len(rows) * self.batch_size
        mean = {key: float(np.mean([m[key] for _, m in rows])) for key in rows[-1][1]}
        mean["images_per_s"] = images / max(now - self.clock, 1e-9)
        self.log.write(rows[-1][0], "train", mean)
        self.progress.update(0, loss=mean["loss"], img_s=mean["images_per_s"])
        self.pending, self.clock = [], now

    def restart_clock(self) -> None:
        """Leave evaluation time out of the next throughput figure."""
        self.clock = time.perf_counter()


class _PreemptionFlag:
    """SIGTERM sets a flag the loop checks after each step (save, then return). On many hosts
    JAX's preemption sync point makes every host stop at the same step."""

    def __init__(self):
        self._received = False
        self._previous = None

    def __enter__(self):
        if jax.process_count() == 1:
            with contextlib.suppress(ValueError):  # not the main thread: no handler, no flag
                self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self._received = True

    def requested(self, step: int) -> bool:
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            return bool(multihost_utils.reached_preemption_sync_point(step))
        return self._received

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

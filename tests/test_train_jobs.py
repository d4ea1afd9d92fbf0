"""Training jobs as real processes: exact resume after SIGKILL, SIGTERM (preemption), 8 devices
equal to 1, metrics files, and a non-finite loss named by its step.

Every job here is the same tiny classifier (fast_small, 8 crops of 59x59 a step, 16 steps);
the uninterrupted run is the reference the others are compared with. The runs share a JAX
compilation cache, so only the first process of each kind compiles.
"""

import json
import os
import pathlib
import signal
import struct
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
STEPS = 16

JOB = textwrap.dedent('''
    import os, sys, time
    import numpy as np
    import overfeat
    from overfeat.train import config as config_lib, loop

    class Blobs:
        """Three classes: a bright square of channel 0, 1 or 2 on noise. A source as the data
        contract says; OVERFEAT_TEST_SLOW slows reading so that a test can kill the job."""
        class_names = ("red", "green", "blue")
        def __init__(self, n, seed):
            self.n, self.seed = n, seed
            self.delay = float(os.environ.get("OVERFEAT_TEST_SLOW", "0"))
        def __len__(self):
            return self.n
        def __getitem__(self, i):
            time.sleep(self.delay)
            rng = np.random.default_rng([self.seed, i])
            label = int(rng.integers(3))
            image = rng.integers(0, 80, (64, 64, 3)).astype(np.uint8)
            top, left = rng.integers(0, 40, 2)
            image[top:top + 24, left:left + 24, label] = 220
            return {"image": image, "label": np.int32(label)}

    c = config_lib.base_config()
    c.arch = "fast_small"
    c.batch_size = 8
    c.num_train_steps = %(steps)d
    c.input.resize_size = 64
    c.model.init = "he"
    c.optimizer.learning_rate = 0.001  # small enough that 8-device rounding stays rounding
    c.checkpoint.every_steps = 4
    c.checkpoint.keep = 2
    c.log_every = 4
    c.eval_every = 8
    c.progress_bar = False
    c.export = False
    config_lib.apply_overrides(c, sys.argv[2:])
    config_lib.validate(c)
    result = loop.train(c, sys.argv[1], train_source=Blobs(96, 0), eval_source=Blobs(16, 1))
    print("RESULT", result.step, result.preempted, flush=True)
    sys.exit(143 if result.preempted else 0)
''') % {"steps": STEPS}


@pytest.fixture(scope="module")
def job_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    script = root / "job.py"
    script.write_text(JOB)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        JAX_COMPILATION_CACHE_DIR=str(root / "jax_cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )
    env.pop("OVERFEAT_TEST_SLOW", None)
    return root, script, env


def start(job_env, workdir, *overrides, env_extra=None):
    root, script, env = job_env
    return subprocess.Popen(
        [sys.executable, str(script), str(workdir), *overrides],
        env=dict(env, **(env_extra or {})),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=180):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def runs(job_env):
    """The uninterrupted run on one device and the same job on 8 (fake CPU) devices, side by
    side (the flag must be set before JAX starts: hence a process of its own)."""
    one, eight = job_env[0] / "reference", job_env[0] / "eight"
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    # One after the other: the second finds the first's compiled programs in the cache.
    for workdir, devices, extra in ((one, 1, None), (eight, 8, {"XLA_FLAGS": flags})):
        status, out, err = finish(start(job_env, workdir, env_extra=extra))
        assert status == 0, err
        assert f"on {devices} cpu device" in err  # the job's start line
    return one, eight


@pytest.fixture(scope="module")
def reference(runs):
    return runs[0]


def saved_state(workdir, step=STEPS):
    """A checkpoint's state as numpy arrays, whatever devices it was saved from."""
    path = pathlib.Path(workdir) / "checkpoints" / str(step) / "state"
    checkpointer = ocp.StandardCheckpointer()
    metadata = checkpointer.metadata(path).item_metadata.tree
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata
    )
    return checkpointer.restore(path, target)


def leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for key, value in sorted(tree.items()):
            yield from leaves(value, f"{prefix}/{key}")
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from leaves(value, f"{prefix}/{i}")
    elif tree is not None:  # optax keeps None for empty states
        yield prefix, np.asarray(tree)


def assert_identical(workdir_a, workdir_b):
    a, b = dict(leaves(saved_state(workdir_a))), dict(leaves(saved_state(workdir_b)))
    assert a.keys() == b.keys()
    for path in a:
        np.testing.assert_array_equal(a[path], b[path], err_msg=path)


def wait_for_checkpoint(workdir, process, timeout=120):
    """Block until a finished checkpoint (a step folder without orbax's tmp suffix) exists."""
    folder = pathlib.Path(workdir) / "checkpoints"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.exists() and any(p.name.isdigit() for p in folder.iterdir()):
            return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
        if process.poll() is not None:
            pytest.fail(f"job ended before its first checkpoint: {process.communicate()[1]}")
        time.sleep(0.05)
    pytest.fail("no checkpoint appeared")


def test_sigkill_then_restart_ends_bit_identical(job_env, reference):
    workdir = job_env[0] / "killed"
    process = start(job_env, workdir, env_extra={"OVERFEAT_TEST_SLOW": "0.03"})
    steps = wait_for_checkpoint(workdir, process)
    process.kill()  # SIGKILL: no handler runs, an async save may be half written
    process.communicate()
    assert steps[-1] < STEPS, "the job finished before it could be killed"
    status, out, err = finish(start(job_env, workdir))
    assert status == 0, err
    assert f"RESULT {STEPS} False" in out
    assert_identical(reference, workdir)


def test_sigterm_saves_and_exits_cleanly(job_env):
    workdir = job_env[0] / "preempted"
    process = start(job_env, workdir, env_extra={"OVERFEAT_TEST_SLOW": "0.03"})
    wait_for_checkpoint(workdir, process)
    process.send_signal(signal.SIGTERM)
    status, out, err = finish(process)
    assert status == 143, err
    assert "Traceback" not in err
    stopped_at = int(out.split("RESULT ")[1].split()[0])
    assert stopped_at < STEPS
    # The checkpoint of the step it stopped at is complete and the latest.
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == stopped_at
    # (Resuming from it is the SIGKILL test's: a checkpoint is a checkpoint.)


def test_eight_devices_equal_one(runs):
    reference, workdir = runs
    one, eight = dict(leaves(saved_state(reference))), dict(leaves(saved_state(workdir)))
    assert one.keys() == eight.keys()
    for path in one:
        if "params" in path or "opt_state" in path:
            # The gradient's all-reduce sums in another order: equal up to float rounding.
            # Measured: parameters within 1e-6 of each array's largest value, the momentum
            # (a sum of raw gradients) within 5e-5; a learning rate 10% off moves the
            # parameters by >= 3e-3, a gradient 8x too large far more.
            tolerance = 1e-5 if path.startswith("/params") else 2e-4
            scale = np.max(np.abs(one[path])) or 1.0
            error = np.max(np.abs(eight[path] - one[path]))
            assert error <= tolerance * scale, f"{path}: {error} vs scale {scale}"
        else:
            np.testing.assert_array_equal(eight[path], one[path], err_msg=path)


def read_event_scalars(folder):
    """Scalars of TensorBoard event files, read with tensorboardX's protos (no TensorFlow)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted(pathlib.Path(folder).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_metrics_jsonl_and_tensorboard(reference):
    rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    train = [row for row in rows if row["split"] == "train"]
    evals = [row for row in rows if row["split"] == "eval"]
    assert [row["step"] for row in train] == [4, 8, 12, 16]
    assert [row["step"] for row in evals] == [8, 16]
    for row in train:
        assert {"loss", "accuracy", "learning_rate", "images_per_s"} <= row.keys()
        assert np.isfinite(row["loss"]) and row["images_per_s"] > 0
    assert {"top1_error", "top5_error", "loss"} <= evals[0].keys()
    scalars = read_event_scalars(reference / "tensorboard")
    assert [step for step, _ in scalars["train/loss"]] == [4, 8, 12, 16]
    np.testing.assert_allclose(
        [v for _, v in scalars["train/loss"]], [r["loss"] for r in train], rtol=1e-6
    )
    assert [step for step, _ in scalars["eval/top1_error"]] == [8, 16]
    config = json.loads((reference / "config.json").read_text())
    assert config["arch"] == "fast_small" and config["num_train_steps"] == STEPS


def test_non_finite_loss_stops_the_job(job_env):
    workdir = job_env[0] / "diverged"
    # Weights of N(0, 1e30) overflow float32 in the first layers: step 1's loss is not finite.
    status, out, err = finish(
        start(job_env, workdir, "--config.model.init=normal", "--config.model.init_std=1e30")
    )
    assert status != 0
    assert "NonFiniteLossError: the classify loss is nan at step 1;" in err
    checkpoints = workdir / "checkpoints"
    assert not checkpoints.exists() or not any(p.name.isdigit() for p in checkpoints.iterdir())


def test_cli_trains_from_a_config_file_and_exports(tmp_path, capsys):
    from overfeat import cli, weights

    status = cli.main(
        [
            "train",
            "--config",
            str(REPO / "configs" / "synthetic.py") + ":classify,quick",
            "--workdir",
            str(tmp_path),
            "--config.num_train_steps=3",
            "--config.batch_size=8",
            "--config.eval_batches=1",
            "--config.progress_bar=False",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "overfeat train: classify done at step 3/3; eval loss=" in captured.out
    model, info = weights.load_model(tmp_path / "model")
    assert info.arch.name == "fast_small" and info.class_names[:2] == ("disc", "ring")
    assert json.loads((tmp_path / "config.json").read_text())["dataset"].startswith(
        "synthetic/classify?"
    )

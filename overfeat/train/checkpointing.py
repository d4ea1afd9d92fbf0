"""Training checkpoints with orbax: everything a resumed job needs to continue bit-identically.

A checkpoint ``WORKDIR/checkpoints/<step>/`` holds two items:

* ``state``: the train state pytree: trainable ``params``, ``frozen`` variables (a frozen
  trunk, preprocessing statistics), ``opt_state``, ``step`` and the base ``rng`` key (dropout
  keys are ``fold_in(rng, step)``, so no RNG state advances between checkpoints);
* ``data``: each host's grain iterator state (``process_<i>-of-<n>.json``), so the input
  stream resumes at the next unseen batch.

Orbax writes a step into a temporary folder and renames it when complete, so a job killed
at any moment leaves only whole checkpoints; ``keep`` bounds how many stay on disk.
"""

from __future__ import annotations

import pathlib

import grain
import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str | pathlib.Path, *, keep: int, async_save: bool):
        self.directory = pathlib.Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                enable_async_checkpointing=async_save,
                create=True,
                cleanup_tmp_directories=True,
            ),
            item_names=("state", "data"),
            item_handlers={
                "state": ocp.StandardCheckpointHandler(),
                "data": grain.checkpoint.CheckpointHandler(),
            },
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: dict, data_iterator) -> None:
        """Save at ``step``; the iterator's state is read now.

        The state is replicated, so it is copied to the host once and saved from there (orbax
        would otherwise cut one slice per device of every array, compiling a program for
        each); writing to disk then runs in the background.
        """
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(jax.device_get(state)),
                data=grain.checkpoint.CheckpointSave(data_iterator),
            ),
            force=True,
        )

    def restore(self, step: int, like_state: dict, data_iterator) -> dict:
        """The state saved at ``step``, laid out like ``like_state`` (shapes, dtypes and
        shardings); ``data_iterator`` is moved to the saved position in place."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                data=grain.checkpoint.CheckpointRestore(data_iterator),
            ),
        )
        return restored["state"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

"""The jitted train and evaluation steps, sharded over the device mesh.

State is a plain pytree (nested dicts of arrays): ``{"params", "frozen", "opt_state", "step",
"rng"}``. ``params`` are what the optimizer updates; ``frozen`` the model's other variables
(a frozen trunk, preprocessing statistics). Both go through ``nnx.merge`` inside the step, so
the model is rebuilt from the graph definition at trace time and nothing is stateful.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from overfeat.models import OverFeat
from overfeat.train import sharding
from overfeat.train.task import Task, resize_batch


def split_model(model: OverFeat, trainable) -> tuple[nnx.GraphDef, dict, dict]:
    """``model`` -> (graph definition, trainable params, everything else), as pure dicts."""
    graphdef, params, frozen = nnx.split(model, trainable, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(frozen)


def merge_model(graphdef: nnx.GraphDef, params: dict, frozen: dict) -> OverFeat:
    return nnx.merge(graphdef, params, frozen)


def init_state(
    params: dict, frozen: dict, optimizer: optax.GradientTransformation, seed: int
) -> dict:
    return {
        "params": params,
        "frozen": frozen,
        "opt_state": optimizer.init(params),
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(jax.random.key(seed)),
    }


def dropout_key(state: dict) -> jax.Array:
    """The step's randomness: a pure function of (seed, step), so a resumed job draws the
    same dropout masks as an uninterrupted one."""
    return jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])


def make_train_step(
    task: Task,
    graphdef: nnx.GraphDef,
    optimizer: optax.GradientTransformation,
    schedule: optax.Schedule,
    mesh: jax.sharding.Mesh,
):
    """``train_step(state, batch, size) -> (state, metrics)``, jitted: state replicated and
    donated, the batch sharded over ``data``; XLA all-reduces the gradients."""

    def train_step(state: dict, batch: dict, size: int | None):
        batch = resize_batch(batch, size)
        key = dropout_key(state)

        def loss_of(params):
            model = merge_model(graphdef, params, state["frozen"])
            return task.loss(model, batch, key, size)

        (loss, metrics), grads = jax.value_and_grad(loss_of, has_aux=True)(state["params"])
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        metrics = dict(metrics, loss=loss, learning_rate=schedule(state["step"]))
        new_state = dict(state, params=params, opt_state=opt_state, step=state["step"] + 1)
        return new_state, metrics

    replicated = sharding.replicated(mesh)
    return jax.jit(
        train_step,
        static_argnums=2,
        in_shardings=(replicated, sharding.batch_sharded(mesh)),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )


def make_eval_step(task: Task, graphdef: nnx.GraphDef, mesh: jax.sharding.Mesh):
    """``eval_step(params, frozen, batch, size) -> sums`` (summed over the global batch)."""

    def eval_step(params: dict, frozen: dict, batch: dict, size: int | None):
        model = merge_model(graphdef, params, frozen)
        return task.eval_sums(model, resize_batch(batch, size), size)

    replicated = sharding.replicated(mesh)
    return jax.jit(
        eval_step,
        static_argnums=3,
        in_shardings=(replicated, replicated, sharding.batch_sharded(mesh)),
        out_shardings=replicated,
    )

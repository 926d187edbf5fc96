"""Losses: task cross-entropy and MPCFormer-style distillation (Li et al. ICLR 2023).

The range loss (Zimerman et al. ICML 2024) lives with the models (`polyzoo.models.range_loss`),
which know each site's interval; `total_loss` adds it with a weight.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy. logits (B, K) float, labels (B,) int."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32),
                                                           labels).mean()


def correct(logits, labels):
    """Number of argmax hits (int32), summed exactly across batches."""
    return jnp.sum((jnp.argmax(logits, axis=-1) == labels).astype(jnp.int32))


def logit_kl(student_logits, teacher_logits, temperature: float = 1.0):
    """KL(teacher || student) of the tempered class distributions, times T^2 (Hinton et al.)."""
    t = jnp.float32(temperature)
    log_p_teacher = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / t, axis=-1)
    log_p_student = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t, axis=-1)
    kl = jnp.sum(jnp.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return kl.mean() * t * t


def hidden_mse(student_hidden, teacher_hidden, mask=None):
    """Mean over layers of the MSE between hidden states (MPCFormer's layer-wise distillation).

    Both arguments are the 'hidden' collections sown by the models (same tree structure);
    mask (B, S) float 0/1 restricts the mean to real tokens.
    """
    s_leaves = jax.tree.leaves(student_hidden)
    t_leaves = jax.tree.leaves(teacher_hidden)
    if len(s_leaves) != len(t_leaves) or not s_leaves:
        raise ValueError(f"hidden states differ: student has {len(s_leaves)} layers, "
                         f"teacher {len(t_leaves)}")
    total = jnp.float32(0.0)
    for s, t in zip(s_leaves, t_leaves):
        sq = jnp.square(s.astype(jnp.float32) - jax.lax.stop_gradient(t).astype(jnp.float32))
        if mask is None:
            total = total + sq.mean()
        else:  # sq (B, S, H), mask (B, S)
            per_token = sq.mean(axis=-1)
            total = total + jnp.sum(per_token * mask) / jnp.maximum(jnp.sum(mask), 1.0)
    return total / jnp.float32(len(s_leaves))

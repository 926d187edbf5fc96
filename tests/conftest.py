"""Test hygiene in the manner of equinox: strict dtype promotion, rank promotion raises."""
import jax

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

"""Training: data, losses, optax loops (see data.py, losses.py, loop.py)."""

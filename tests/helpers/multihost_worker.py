"""One process of a data-parallel run on localhost (tests/train/test_train_multihost.py).

    python multihost_worker.py PORT NUM_PROCESSES PROCESS_ID OUT.npz RUN_DIR|- UNTIL

Trains the tiny MNIST MLP for 8 steps of a global batch of 32 (stopping at UNTIL, resuming
from RUN_DIR), each process feeding its half of every batch; process 0 writes the params.
"""
import json
import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
port, out, run_dir = sys.argv[1], sys.argv[4], sys.argv[5]
nproc, pid, until = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[6])
if nproc > 1:
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc,
                               process_id=pid, local_device_ids=[0])
import numpy as np  # noqa: E402  (after jax.distributed.initialize, as JAX requires)

from polyzoo.train import data, loop, mlp  # noqa: E402
ds = data.load_mnist()
model = mlp.MLP(num_classes=10, dropout=0.0)
variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
tx = loop.optimizer(3e-3, 8)
state = loop.init_state(variables, tx)
state, hist = loop.fit(model, state, tx, (ds.train.inputs,), ds.train.labels,
                       loop.LoopConfig(steps=8, batch_size=32, checkpoint_every=4),
                       run_dir=None if run_dir == "-" else run_dir, until=until, progress=False)
if jax.process_index() == 0:
    np.savez(out, **{"/".join(map(str, p)): np.asarray(x) for p, x in
                     jax.tree_util.tree_flatten_with_path(state.params)[0]})
print(json.dumps({"devices": hist["devices"], "processes": jax.process_count(),
                  "start": hist["start_step"]}))

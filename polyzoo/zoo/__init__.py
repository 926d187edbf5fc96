"""The polynomial zoo: named, checksummed checkpoints loaded by `polyzoo.zoo.load(name)`, and
the recipes that make them.

    registry    the manifest, load(name), publish(...)
    recipe      a zoo entry as data (model, spec, data, stages); load_recipe(name)
    training    run(recipe): trains it and publishes the entry
                (sub-modules: `from polyzoo.zoo import recipe, training`)
    convert     the language recipes on a user's own CSV (`polyzoo convert`)
    card        model cards;  evaluation  `polyzoo zoo eval`
"""
from polyzoo.train.checkpoint import ChecksumError
from polyzoo.zoo.registry import (ZooEntry, checkpoints_root, entry_meta, load, names, publish,
                                  read_manifest)

__all__ = ["ChecksumError", "ZooEntry", "checkpoints_root", "entry_meta", "load", "names",
           "publish", "read_manifest"]

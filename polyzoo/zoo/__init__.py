"""The polynomial zoo: named, checksummed orbax checkpoints loaded by `polyzoo.zoo.load(name)`."""
from polyzoo.zoo.checkpoint import ChecksumError
from polyzoo.zoo.registry import (ZooEntry, checkpoints_root, entry_meta, load, names, publish,
                                  read_manifest)

__all__ = ["ChecksumError", "ZooEntry", "checkpoints_root", "entry_meta", "load", "names",
           "publish", "read_manifest"]

"""Sub-commands of the `polyzoo` CLI, one module each (see polyzoo/cli.py)."""

"""The training configs shipped with the package, loaded by name (``overfeat train --config
synthetic:classify``) or by path; the repository's top-level ``configs/`` is this folder (a
link), the one users read and copy. Each file defines ``get_config(arg=None)``."""

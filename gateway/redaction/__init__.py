"""The redaction pipeline (see docs/redaction.md)."""

import os

# Each segment process runs on its own core and nothing here multiplies large matrices, but
# NumPy's OpenBLAS starts a thread per core when it loads, and those threads spin for a while
# first: about 0.1 s of CPU per process of a `redact` run (its command, fork server and worker).
# Set before anything in this package imports NumPy; the fork server inherits it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

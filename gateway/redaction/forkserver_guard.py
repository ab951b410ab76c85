"""Preloaded by the redaction fork server only: the server dies with the process that started it.

Python's fork server outlives a parent that was SIGKILLed; its segment workers (which die with
the server, see gateway.workers) would then linger with a clip open. A parent that died before
the server got here leaves it no one to die with, so it exits at once unless its parent is the
process `workers.guarded_fork_server` names (an orphaned server and its worker were found
running after a test run). Importing this module
anywhere else would tie that process's life to its parent's, so nothing else imports it.
"""

import os

from gateway.workers import FORK_SERVER_PARENT, die_with_parent

_parent = os.environ.get(FORK_SERVER_PARENT)
die_with_parent(int(_parent) if _parent else None)

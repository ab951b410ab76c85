"""Preloaded by the redaction fork server only: the server dies with the process that started it.

Python's fork server outlives a parent that was SIGKILLed; its segment workers (which die with
the server, see gateway.workers) would then linger with a clip open. Importing this module
anywhere else would tie that process's life to its parent's, so nothing else imports it.
"""

from gateway.workers import die_with_parent

die_with_parent()

"""`python -m gateway` runs the `safesmart-gateway` command line."""

import sys

from .cli import main

sys.exit(main())

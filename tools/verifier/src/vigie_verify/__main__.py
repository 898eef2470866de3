"""Runs the verifier CLI as ``python -m vigie_verify``."""

import sys

from vigie_verify.cli import main

sys.exit(main())

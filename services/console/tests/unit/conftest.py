"""Makes the console's `fakes.py` importable as `console_fakes` (a unique name across the repository)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Because pytest's importlib mode puts no test folder on sys.path, and a bare `fakes` module could
# collide with another service's.
_spec = importlib.util.spec_from_file_location("console_fakes", Path(__file__).with_name("fakes.py"))
assert _spec is not None and _spec.loader is not None
console_fakes = importlib.util.module_from_spec(_spec)
sys.modules["console_fakes"] = console_fakes
_spec.loader.exec_module(console_fakes)

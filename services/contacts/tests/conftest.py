"""Makes the contacts test fakes importable as `contacts_fakes` (a unique name across the repository)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Because pytest's importlib mode puts no test folder on sys.path, and a bare `fakes` module could
# collide with another service's.
_spec = importlib.util.spec_from_file_location("contacts_fakes", Path(__file__).parent / "unit" / "fakes.py")
assert _spec is not None and _spec.loader is not None
contacts_fakes = importlib.util.module_from_spec(_spec)
sys.modules["contacts_fakes"] = contacts_fakes
_spec.loader.exec_module(contacts_fakes)

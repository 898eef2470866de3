"""Makes audit-log's `fakes.py` importable as `audit_log_fakes` (a unique name across the repository)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Because pytest's importlib mode puts no test folder on sys.path, and a bare `fakes` module could
# collide with another service's.
_spec = importlib.util.spec_from_file_location("audit_log_fakes", Path(__file__).with_name("fakes.py"))
assert _spec is not None and _spec.loader is not None
audit_log_fakes = importlib.util.module_from_spec(_spec)
sys.modules["audit_log_fakes"] = audit_log_fakes
_spec.loader.exec_module(audit_log_fakes)

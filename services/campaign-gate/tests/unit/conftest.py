"""Makes the campaign-gate example builders and fakes importable by the unit tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Because pytest's importlib mode does not put a test folder on sys.path, and the parametrize
# tables need the builders at import time (fixtures come too late for them).
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The fakes go by a name no other service's tests use (a bare `fakes` module would collide).
_spec = importlib.util.spec_from_file_location("campaign_gate_fakes", Path(__file__).with_name("fakes.py"))
assert _spec is not None and _spec.loader is not None
campaign_gate_fakes = importlib.util.module_from_spec(_spec)
sys.modules["campaign_gate_fakes"] = campaign_gate_fakes
_spec.loader.exec_module(campaign_gate_fakes)

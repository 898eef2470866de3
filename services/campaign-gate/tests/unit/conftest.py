"""Makes the campaign-gate example builders importable by the unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Because pytest's importlib mode does not put a test folder on sys.path, and the parametrize
# tables need the builders at import time (fixtures come too late for them).
sys.path.insert(0, str(Path(__file__).resolve().parent))

"""Benchmarks, each against a baseline measured in the same run (`bench/README.md`)."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """Returns what a result file says of the machine it ran on (Python, kernel, cores), plus `extra`."""
    return {
        "python": platform.python_version(),
        "uname": " ".join(platform.uname()),
        "cpus": os.cpu_count(),
        **extra,
    }

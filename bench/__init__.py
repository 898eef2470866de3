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


def local_token(secret: str, *roles: str) -> str:
    """Returns an hour's HS256 token of the local issuer for the subject "bench", with these roles."""
    from shared.auth import issue_local_token

    return issue_local_token(
        secret=secret, issuer="vigie-local", audience="vigie", roles=roles, subject="bench", ttl_seconds=3600
    )

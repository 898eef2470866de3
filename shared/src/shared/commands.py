"""What every service's commands share: the PATCH sentinel and the changes a PATCH carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, Final


class Unset(enum.Enum):
    """The type of UNSET: a field a PATCH does not touch (None is a value: it clears the field)."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True)
class Changes:
    """A set of PATCH changes: subclasses declare fields defaulting to UNSET; `given()` keeps the set ones."""

    def given(self) -> dict[str, Any]:
        """Returns the fields that were set, by name (what an aggregate's update takes)."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not UNSET}

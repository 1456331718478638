"""What an import did, in a shape the CLI prints as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class ImportReport:
    source: str
    location: str
    records_read: dict[str, int] = field(default_factory=dict)
    rows_added: dict[str, int] = field(default_factory=dict)

    @property
    def changed_anything(self) -> bool:
        return any(self.rows_added.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed_anything": self.changed_anything}

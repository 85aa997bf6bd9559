"""What every public record shares: the API returns it, and a page renders the same one.

A record is built from table rows with `Record.of(row, **derived)`: pydantic reads
the row's attributes (`from_attributes`), and the keyword arguments supply what
the row does not hold or holds under another name (`T-42` for the id 42). Enums
(verdict, relation, run kind and status, job status) are validated against
runner.spec and server.models, listed in the OpenAPI document, and kept as
their plain string values, so the JSON and the templates see "robust", never
`Verdict.robust`.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    @classmethod
    def of(cls, row: object, **derived: Any) -> Self:
        """This record from `row`'s attributes, where `derived` values take precedence."""
        return cls.model_validate(_Overlay(row, derived))


class _Overlay:
    """Attribute lookup in `derived` first, then in `row`."""

    __slots__ = ("_row", "_derived")

    def __init__(self, row: object, derived: dict[str, Any]) -> None:
        self._row = row
        self._derived = derived

    def __getattr__(self, name: str) -> Any:
        if name in self._derived:
            return self._derived[name]
        return getattr(self._row, name)

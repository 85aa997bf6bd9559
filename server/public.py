"""What every public record shares: the API returns it, and a page renders the same one.

A record is built from a table row with `Record.of(row, **derived)`: the row's
attributes named like the record's fields (or like a field's validation alias)
are validated together with the keyword arguments, which supply what the row
does not hold or holds under another name (`T-42` for the id 42). Enums
(verdict, relation, run kind and status, job status) are validated against
runner.spec and server.models, listed in the OpenAPI document, and kept as
their plain string values, so the JSON and the templates see "robust", never
`Verdict.robust`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict

_MISSING = object()


class Record(BaseModel):
    # from_attributes: a nested record may be given as a row (the author as a User).
    model_config = ConfigDict(from_attributes=True, use_enum_values=True)

    @classmethod
    def of(cls, row: object, **derived: Any) -> Self:
        """This record from `row`'s attributes, where `derived` values take precedence."""
        data = {}
        for name in _attribute_names(cls):
            if name not in derived:
                value = getattr(row, name, _MISSING)
                if value is not _MISSING:
                    data[name] = value
        return cls.model_validate({**data, **derived})


@cache
def _attribute_names(record: type[Record]) -> tuple[str, ...]:
    """The names a record's fields may be read under: each field's, and its aliases."""
    names = []
    for name, field in record.model_fields.items():
        names.append(name)
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names += [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            names.append(alias)
    return tuple(dict.fromkeys(names))

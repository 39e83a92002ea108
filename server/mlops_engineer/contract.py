"""Fields every tool shares, so each tool module only declares what is its own."""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _plain_type(annotation: Any) -> Any:
    """`bool` for `bool` and `bool | None`; anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


class StrictModel(BaseModel):
    """Base of every input model: an unknown field is an error, not silently ignored.

    pydantic's lax mode would read `"yes"`, `1` or `"true"` as a boolean, so `confirm: "yes"`
    would authorise a destructive step; and `true` as the number 1. Flags take only true or
    false, numbers never a boolean, and NaN or infinity are refused where a number is expected.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    _flag_fields: ClassVar[frozenset[str]] = frozenset()
    _number_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = {(f.alias or name): _plain_type(f.annotation) for name, f in cls.model_fields.items()}
        cls._flag_fields = frozenset(name for name, kind in fields.items() if kind is bool)
        cls._number_fields = frozenset(name for name, kind in fields.items() if kind in (int, float))

    @model_validator(mode="before")
    @classmethod
    def _refuse_lax_coercion(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls._flag_fields & data.keys():
                if not isinstance(data[name], bool) and data[name] is not None:
                    raise ValueError(f"`{name}` must be true or false, not {data[name]!r}")
            for name in cls._number_fields & data.keys():
                if isinstance(data[name], bool):
                    raise ValueError(f"`{name}` must be a number, not {data[name]!r}")
        return data


class ToolInput(StrictModel):
    """Base of every tool input: the operation-independent switches."""

    dry_run: bool = Field(
        default=False, description="Return the plan (files, diffs, backend calls) without changing anything."
    )
    confirm: bool = Field(
        default=False,
        description="Allow destructive steps: deleting, archiving, overwriting a file someone edited.",
    )
    help: bool = Field(
        default=False,
        description="Run nothing; answer with the chosen action's complete input schema and examples.",
    )


class ToolOutput(BaseModel):
    dry_run: bool = Field(default=False, description="True when nothing was changed and this is the plan.")
    planned_calls: list[str] = Field(
        default_factory=list, description="Backend calls made (or, in a dry run, that would be made)."
    )
    recovered: list[str] = Field(
        default_factory=list,
        description="What an interrupted earlier call (a killed process) had left, and how this call cleaned it up or resumed it.",
    )

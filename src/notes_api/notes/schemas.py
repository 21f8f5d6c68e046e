"""The notes' shapes: what clients send and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from notes_api.notes.tables import TEXT_MAX_LENGTH


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here with a 422, not with a 500 from the database.
    # (Lone surrogates, "\ud800", are refused by pydantic's JSON parser already.)
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return text


def _bool_from_string(value: Any) -> Any:
    # The demo's own curl sends "completed": "false"; keep accepting exactly "true" and "false".
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


NoteText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH),
    AfterValidator(_storable),
    Field(
        description=f"1 to {TEXT_MAX_LENGTH} characters, NUL excepted.",
        examples=["Buy milk"],
        # Published so that clients (and Schemathesis) know NUL is refused; _storable checks it.
        json_schema_extra={"pattern": "^[^\\x00]*$"},
    ),
]
Completed = Annotated[
    bool,
    Strict(),
    BeforeValidator(_bool_from_string),
    # Published as a plain boolean, which is what clients should send and what generated clients
    # type it as; the demo's strings stay accepted, as the description says.
    WithJsonSchema({"type": "boolean"}),
    Field(description='true or false (the strings "true" and "false" are accepted too).'),
]


class NoteIn(BaseModel):
    """A note to create, or the whole new content of one (PUT)."""

    model_config = ConfigDict(extra="forbid")

    text: NoteText
    completed: Completed = False


class NotePatch(BaseModel):
    """Some fields of a note (PATCH): the ones given change, the others stay."""

    model_config = ConfigDict(extra="forbid")

    # SkipJsonSchema keeps null out of the published schema: a field is either given or left out.
    text: NoteText | SkipJsonSchema[None] = None
    completed: Completed | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out, but not set to null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Note(BaseModel):
    """A stored note."""

    id: int
    text: str
    completed: bool
    created_at: datetime
    updated_at: datetime

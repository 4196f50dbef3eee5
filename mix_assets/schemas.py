"""Pydantic models made from the one place a schema is written, so no field, default or bound is
copied by hand: a core settings dataclass becomes an asset Config (assets/shared.settings_config)
or a project-file block (project.BACKEND_BLOCKS); the project file's search model becomes the
Dagster resource's SearchSettings (resources.py). No Dagster here: the caller names the base."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, Field, create_model


def from_dataclass(
    settings: type, name: str, base: type[BaseModel], exclude: tuple[str, ...] = (), **extra
) -> Any:
    """A `base` model with the fields, defaults and docs of a settings dataclass (nested dataclasses
    become nested models), less `exclude`, plus `extra` fields as (type, default)."""
    hints = typing.get_type_hints(settings)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(kind):
            sub = from_dataclass(kind, f"{name}{kind.__name__}", base, exclude)
            kept = {k: v for k, v in dataclasses.asdict(default).items() if k in sub.model_fields}
            fields[f.name] = (sub, sub() if default == kind() else sub(**kept))
        else:
            fields[f.name] = (kind, default)
    return create_model(name, __base__=base, __doc__=settings.__doc__, **fields, **extra)


def from_model(
    model: type[BaseModel],
    name: str,
    base: type[BaseModel],
    nested: type[BaseModel] | None = None,
    **override,
) -> Any:
    """A `base` model with another model's fields, defaults, descriptions and bounds (nested models
    become `nested` models, default `base`), `override` replacing fields as (type, default)."""
    fields: dict[str, Any] = {}
    for key, f in model.model_fields.items():
        kind = f.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            sub = from_model(kind, f"{name}{kind.__name__}", nested or base)
            fields[key] = (sub, Field(default_factory=sub, description=f.description))
        else:
            fields[key] = (kind, f)
    return create_model(name, __base__=base, __doc__=model.__doc__, **{**fields, **override})

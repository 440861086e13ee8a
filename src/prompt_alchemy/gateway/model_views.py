"""Views of a contract model without the fields a front door fills in itself.

``PATCH /prompts/{id}`` takes the id from the path and ``record_feedback`` sets ``source``
itself; their bodies are the bus model minus those fields, derived here so the documented
schema (OpenAPI, MCP tool input) stays exactly the model's, constraints and all. The full
model still validates the merged result, so its cross-field rules keep applying.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, create_model

__all__ = ["model_without"]


def model_without(model: type[BaseModel], *excluded: str, name: str) -> type[BaseModel]:
    """A model named ``name`` with every field of ``model`` except ``excluded``, same config."""
    unknown = set(excluded) - set(model.model_fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    fields: dict[str, Any] = {
        field_name: (info.annotation, info)
        for field_name, info in model.model_fields.items()
        if field_name not in excluded
    }
    view: type[BaseModel] = create_model(
        name,
        __config__=model.model_config,
        __doc__=model.__doc__,
        __module__=model.__module__,
        **fields,
    )
    return view

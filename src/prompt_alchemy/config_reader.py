"""The one configuration reader: typed settings from a TOML file, the environment and explicit values.

Every setting of every worker and door is a field of a pydantic-settings model (``runtime.settings``
composes them; the providers declare theirs in ``workers.providers.settings``). Sources, later
ones winning: the TOML file, the environment, explicit values (command-line flags). Secrets come
from the environment only: a file naming one is refused.

Environment names follow the fields: ``http_port`` is ``HTTP_PORT``; a field of a section (a nested
model) is ``<SECTION>_<FIELD>``, so ``openai.timeout_s`` is ``OPENAI_TIMEOUT_S`` (pydantic-settings'
nested reading with ``_`` as the delimiter and one split). A field whose ``validation_alias`` is a
string is read under that name only (``data_dir`` is ``ALCHEMY_DATA_DIR``). Lists are comma lists.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import pydantic_core
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource

from prompt_alchemy.errors import ConfigError

__all__ = ["comma_list", "environment_names", "read_settings", "read_toml_table", "section_of"]

S = TypeVar("S", bound=BaseSettings)

DELIMITER = "_"


def comma_list(value: Any) -> Any:
    """A before-validator: ``"a, b,,c"`` is ``("a", "b", "c")``; anything else passes through."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def section_of(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a section field (a nested model), or None for a plain setting."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return (alias if isinstance(alias, str) else name).upper()


def environment_names(model: type[BaseModel]) -> Iterator[tuple[str, str]]:
    """``(setting path, environment variable)`` for every setting of ``model``, sections expanded."""
    for name, field in model.model_fields.items():
        section = section_of(field)
        if section is None:
            yield name, _env_name(name, field)
            continue
        prefix = _env_name(name, field)
        for sub_name, sub_field in section.model_fields.items():
            key = _env_name(sub_name, sub_field).lower()  # the file's name is the variable's, as OLLAMA_HOST's host
            yield f"{name}.{key}", f"{prefix}{DELIMITER}{key.upper()}"


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (default ``os.environ``).

    A field with a string alias is read under the alias only: ``ALCHEMY_DATA_DIR``, not ``DATA_DIR``.
    Empty variables count as unset, as they always have here.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            settings_cls,
            case_sensitive=False,
            env_nested_delimiter=DELIMITER,
            env_nested_max_split=1,
            env_ignore_empty=True,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        variables = {name.lower(): value for name, value in self._environ.items() if value != ""}
        aliased = {
            name
            for name, field in self.settings_cls.model_fields.items()
            if isinstance(field.validation_alias, str) and field.validation_alias.lower() != name
        }
        return {name: value for name, value in variables.items() if name not in aliased}


def read_toml_table(path: Path, model: type[BaseModel], secrets: frozenset[str]) -> dict[str, Any]:
    """The ``[prompt-alchemy]`` table of ``path`` (or its top level), refusing secrets and unknown names."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    table = data.get("prompt-alchemy", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: expected a table of settings")
    found = sorted(_paths(table) & secrets)
    if found:
        raise ConfigError(f"config file {path} holds secrets ({', '.join(found)}): set them in the environment instead")
    unknown = sorted(_paths(table) - {path for path, _ in environment_names(model)} - set(model.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return table


def _paths(table: Mapping[str, Any]) -> set[str]:
    paths: set[str] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            paths |= {f"{key}.{sub}" for sub in value}
        else:
            paths.add(key)
    return paths


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def read_settings(
    model: type[S],
    *,
    environ: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> S:
    """``model`` from the file's values, then the environment, then ``overrides`` (None values skipped).

    A value that does not validate is a ``ConfigError`` naming the setting and its variable,
    never echoing the value (it could be a secret).
    """
    explicit = {key: value for key, value in (overrides or {}).items() if value is not None}
    layers = (
        InitSettingsSource(model, init_kwargs=dict(file_values or {})),
        _Environment(model, os.environ if environ is None else environ),
        InitSettingsSource(model, init_kwargs=explicit),
    )
    values: dict[str, Any] = {}
    for layer in layers:
        values = _merge(values, layer())
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as error:
        variables = dict(environment_names(model))
        problems = "; ".join(_problem(item, variables) for item in error.errors(include_input=False))
        raise ConfigError(f"invalid settings: {problems}") from error


def _problem(item: pydantic_core.ErrorDetails, variables: Mapping[str, str]) -> str:
    where = ".".join(str(part) for part in item["loc"])
    message = item["msg"].removeprefix("Value error, ")  # a model-level check names its variables itself
    variable = variables.get(where)
    if variable is not None and variable != where.upper():
        where = f"{where} ({variable})"
    return f"{where}: {message}" if where else message

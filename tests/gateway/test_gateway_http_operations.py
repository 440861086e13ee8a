"""The operation table: a row naming a bus contract takes its summary and models from it.

The document these rows produce is checked in ``test_gateway_http_openapi``; here, the rules of
one row: the contract is named once, models are never given twice, a body method reads the
request model unless a narrower view is named, and misuse is a ``TypeError`` at import time.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from prompt_alchemy.gateway.http.api_routes import UpdateBody, forward
from prompt_alchemy.gateway.http.operations import Operation
from prompt_alchemy.gateway.http.routes import operations
from prompt_alchemy.gateway.http.settings import HttpSettings
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.storage import GetReply, GetRequest, UpdateRequest


def test_a_contract_row_takes_summary_request_and_reply_from_the_contract() -> None:
    row = Operation("GET", "/p/{id}", "getPrompt", "prompts", forward, registry.STORAGE_GET)
    assert (row.summary, row.request, row.reply) == (registry.STORAGE_GET.summary, GetRequest, GetReply)
    assert row.bus_contract is registry.STORAGE_GET
    assert row.body is None  # a GET reads path and query string
    own = Operation("GET", "/p/{id}", "getPrompt", "prompts", forward, registry.STORAGE_GET, summary="Mine.")
    assert own.summary == "Mine."


def test_a_body_method_reads_the_request_model_unless_a_view_is_named() -> None:
    whole = Operation("POST", "/optimize", "optimizePrompt", "prompts", forward, registry.ENGINE_OPTIMIZE)
    assert whole.body is registry.ENGINE_OPTIMIZE.request
    view = Operation("PATCH", "/p/{id}", "updatePrompt", "prompts", forward, registry.STORAGE_UPDATE, body=UpdateBody)
    assert (view.body, view.request) == (UpdateBody, UpdateRequest)


def test_models_are_never_given_twice() -> None:
    with pytest.raises(TypeError, match="getPrompt: request and reply come from its contract"):
        Operation("GET", "/p/{id}", "getPrompt", "prompts", forward, registry.STORAGE_GET, request=GetRequest)


def test_a_row_without_a_contract_states_its_summary_and_forwards_nothing() -> None:
    async def handler(*_: Any) -> Any:
        raise AssertionError("not called")

    with pytest.raises(TypeError, match="local: an operation without a contract needs a summary"):
        Operation("GET", "/local", "local", "system", handler, reply=GetReply)
    local: Operation[BaseModel, GetReply] = Operation("GET", "/local", "local", "system", handler, summary="Local.")
    with pytest.raises(TypeError, match="local serves no request contract"):
        _ = local.bus_contract
    with pytest.raises(TypeError, match="local takes no request model"):
        _ = local.request_model


def test_every_forwarded_row_of_the_table_names_its_contract() -> None:
    for row in operations(HttpSettings()):
        if row.handler is forward:
            assert row.contract is not None, row.operation_id
            assert (row.request, row.reply) == (row.contract.request, row.contract.reply)

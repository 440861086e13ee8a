"""Each vendor's wire format as pure functions: request bodies, reply and error parsing."""

from __future__ import annotations

import pytest

from prompt_alchemy.errors import ProviderError
from prompt_alchemy.schemas.providers import ChatMessage
from prompt_alchemy.workers.providers.secrets import SecretKey
from prompt_alchemy.workers.providers.wire import ANTHROPIC, GEMINI, OLLAMA, OPENAI, OPENAI_COMPATIBLE, ChatParams

MESSAGES = [
    ChatMessage(role="system", content="Be terse."),
    ChatMessage(role="user", content="first"),
    ChatMessage(role="user", content="second"),
    ChatMessage(role="assistant", content="answer"),
    ChatMessage(role="user", content="third"),
]


def params(model: str = "m-1", temperature: float = 1.5, max_tokens: int = 99) -> ChatParams:
    return ChatParams(model, MESSAGES, temperature, max_tokens)


def test_openai_chat_body_keeps_system_as_a_message_and_uses_max_completion_tokens() -> None:
    call = OPENAI.chat_call(params("gpt-4o-mini"))
    assert call.path == "/chat/completions"
    assert call.body["model"] == "gpt-4o-mini"
    assert call.body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert len(call.body["messages"]) == 5
    assert call.body["max_completion_tokens"] == 99
    assert "max_tokens" not in call.body
    assert call.body["temperature"] == 1.5


def test_openai_reasoning_models_get_no_temperature_and_compatible_servers_get_max_tokens() -> None:
    assert "temperature" not in OPENAI.chat_call(params("o3-mini")).body
    compatible = OPENAI_COMPATIBLE.chat_call(params("llama")).body
    assert compatible["max_tokens"] == 99
    assert "max_completion_tokens" not in compatible


def test_openai_auth_header_is_bearer_and_absent_without_key() -> None:
    assert OPENAI.auth_headers(SecretKey("k1")) == {"Authorization": "Bearer k1"}
    assert OPENAI_COMPATIBLE.auth_headers(None) == {}


def test_openai_reply_parsing_reads_content_model_and_usage() -> None:
    parsed = OPENAI.parse_chat(
        {
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        }
    )
    assert (parsed.content, parsed.model) == ("hi", "gpt-4o-mini-2024-07-18")
    assert parsed.usage is not None
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens) == (5, 2)
    assert OPENAI.parse_chat({"choices": [{"message": {"content": "x"}}]}).usage is None


@pytest.mark.parametrize(
    "body",
    [{}, {"choices": []}, {"choices": [{"message": {"content": None}}]}, [1, 2], "text", {"choices": [{}]}],
)
def test_openai_malformed_replies_are_provider_errors(body: object) -> None:
    with pytest.raises(ProviderError, match="malformed OpenAI response") as caught:
        OPENAI.parse_chat(body)
    assert not caught.value.retriable


def test_anthropic_body_has_top_level_system_alternating_turns_clamped_temperature() -> None:
    call = ANTHROPIC.chat_call(params("claude-x"))
    assert call.path == "/v1/messages"
    assert call.body["system"] == "Be terse."
    assert call.body["max_tokens"] == 99
    assert call.body["temperature"] == 1.0
    assert call.body["messages"] == [
        {"role": "user", "content": "first\n\nsecond"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "third"},
    ]
    assert ANTHROPIC.auth_headers(SecretKey("k")) == {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def test_anthropic_reply_and_error_parsing() -> None:
    parsed = ANTHROPIC.parse_chat(
        {
            "model": "claude-x",
            "content": [{"type": "text", "text": "a"}, {"type": "tool_use"}, {"type": "text", "text": "b"}],
            "usage": {"input_tokens": 9, "output_tokens": 4},
        }
    )
    assert parsed.content == "ab"
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 13
    message = ANTHROPIC.error_message({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    assert message == "rate_limit_error: slow down"
    with pytest.raises(ProviderError):
        ANTHROPIC.parse_chat({"content": "not a list"})


def test_gemini_body_uses_system_instruction_model_role_and_generation_config() -> None:
    call = GEMINI.chat_call(params("gemini-2.5-flash", temperature=0.4))
    assert call.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert call.body["generationConfig"] == {"temperature": 0.4, "maxOutputTokens": 99}
    assert [content["role"] for content in call.body["contents"]] == ["user", "model", "user"]
    assert call.body["contents"][0]["parts"] == [{"text": "first"}, {"text": "second"}]
    assert GEMINI.auth_headers(SecretKey("g")) == {"x-goog-api-key": "g"}


def test_gemini_reply_blocked_prompt_and_error_parsing() -> None:
    parsed = GEMINI.parse_chat(
        {
            "candidates": [{"content": {"parts": [{"text": "x"}, {"text": "y", "thought": True}, {"text": "z"}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
        }
    )
    assert parsed.content == "xz"
    assert parsed.usage is not None
    assert parsed.usage.input_tokens == 3
    with pytest.raises(ProviderError, match="blocked the prompt: SAFETY"):
        GEMINI.parse_chat({"promptFeedback": {"blockReason": "SAFETY"}})
    assert GEMINI.error_message({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}) == (
        "RESOURCE_EXHAUSTED: quota"
    )


def test_gemini_embeddings_single_and_batch() -> None:
    single = GEMINI.embed_call("gemini-embedding-001", ["one"])
    assert single.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert single.body == {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "one"}]}}
    batch = GEMINI.embed_call("gemini-embedding-001", ["a", "b"])
    assert batch.path.endswith(":batchEmbedContents")
    assert [r["content"]["parts"][0]["text"] for r in batch.body["requests"]] == ["a", "b"]
    assert GEMINI.parse_embed({"embeddings": [{"values": [1, 2]}, {"values": [3, 4]}]}, 2).vectors == [
        [1.0, 2.0],
        [3.0, 4.0],
    ]
    with pytest.raises(ProviderError, match="expected 2 embeddings"):
        GEMINI.parse_embed({"embeddings": [{"values": [1, 2]}]}, 2)


def test_ollama_keeps_system_message_and_puts_sampling_in_options() -> None:
    call = OLLAMA.chat_call(params("llama3.2", temperature=0.3))
    assert call.path == "/api/chat"
    assert call.body["stream"] is False
    assert call.body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert call.body["options"] == {"temperature": 0.3, "num_predict": 99}
    parsed = OLLAMA.parse_chat(
        {"model": "llama3.2", "message": {"content": "ok"}, "prompt_eval_count": 7, "eval_count": 2}
    )
    assert parsed.usage is not None
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens) == (7, 2)
    assert OLLAMA.embed_call("nomic-embed-text", ["a"]).body == {"model": "nomic-embed-text", "input": ["a"]}
    assert OLLAMA.error_message({"error": "model 'x' not found"}) == "model 'x' not found"


def test_openai_embeddings_are_ordered_by_index_and_validated() -> None:
    body = {
        "data": [{"index": 1, "embedding": [0, 1]}, {"index": 0, "embedding": [1, 0]}],
        "usage": {"prompt_tokens": 4},
    }
    parsed = OPENAI.parse_embed(body, 2)
    assert parsed.vectors == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ProviderError, match="different dimensions"):
        OPENAI.parse_embed({"data": [{"index": 0, "embedding": [1]}, {"index": 1, "embedding": [1, 2]}]}, 2)
    with pytest.raises(ProviderError, match="not a list of numbers"):
        OPENAI.parse_embed({"data": [{"index": 0, "embedding": ["x"]}]}, 1)

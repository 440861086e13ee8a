"""Credentials inside connection URLs are masked wherever a URL is shown."""

from __future__ import annotations

import json
import logging

import pytest

from prompt_alchemy.redaction import mask_url, mask_urls_in
from prompt_alchemy.runtime.logs import JsonFormatter


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://alice:s3cret@127.0.0.1:4222", "nats://alice:***@127.0.0.1:4222"),
        ("nats://tok3n@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://redis:6379/0?password=s3cret&db=1", "rediss://redis:6379/0?password=***&db=1"),
        ("nats://a:s3cret@n1:4222,nats://n2:4222", "nats://a:***@n1:4222,nats://n2:4222"),
        ("redis://localhost:6379", "redis://localhost:6379"),
    ],
)
def test_a_url_keeps_everything_but_its_secret(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_urls_inside_text_and_log_lines_are_masked() -> None:
    text = "cannot connect to nats://alice:s3cret@n1:4222 or redis://:hunter2@r:6379/0?token=t0k"
    masked = mask_urls_in(text)
    assert "s3cret" not in masked
    assert "hunter2" not in masked
    assert "t0k" not in masked
    assert "nats://alice:***@n1:4222" in masked
    record = logging.LogRecord("nats", logging.ERROR, __file__, 1, "lost %s", ("nats://alice:s3cret@n1:4222",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "lost nats://alice:***@n1:4222"

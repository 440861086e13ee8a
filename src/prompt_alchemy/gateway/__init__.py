"""Front doors (HTTP, MCP, CLI client commands): they only request and publish on the bus."""

from prompt_alchemy.gateway.feedback import FeedbackSink, submit_feedback

__all__ = ["FeedbackSink", "submit_feedback"]

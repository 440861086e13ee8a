"""The MCP front door: nine tools on the bus, served over stdio or streamable HTTP by the caller."""

from prompt_alchemy.gateway.mcp.http_server import DEFAULT_MCP_PORT, McpHttpServer
from prompt_alchemy.gateway.mcp.server import TOOL_NAMES, create_server
from prompt_alchemy.gateway.mcp.tools import model_tool

__all__ = ["DEFAULT_MCP_PORT", "TOOL_NAMES", "McpHttpServer", "create_server", "model_tool"]

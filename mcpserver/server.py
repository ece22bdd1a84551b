"""The reference MCP server: its identity, and the tools, resources and prompts it offers."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, GetPromptResult, InputRequiredResult

from mcpserver.sessions import RotatingRequestStateCodec
from mcpserver.settings import Settings
from mcpserver.tools import bedrock_usage, ec2, identity, prompts
from servicekit import logs

_F = TypeVar("_F", bound=Callable[..., Any])

NAME = "aws-tools"
# Tools that change the world: each needs the destructive scope on top of the required one.
DESTRUCTIVE_TOOLS = ("stop_ec2_instance",)
# What each scope lets an application do with these tools, in the words the consent page shows the
# person approving. The dev stack gives the same words to the façade (AUTHPROXY_RESOURCES) and to
# the Cognito resource server (ScopeDescription); the AWS template repeats them (a test compares).
SCOPE_DESCRIPTIONS = {
    "read": "See who you are signed in as, list EC2 instances and read Bedrock usage",
    "write": "Stop EC2 instances",
}

INSTRUCTIONS = (
    "Reads and manages the AWS account this server runs in: EC2 instances and Bedrock usage. "
    "Call whoami to see who you are signed in as. Stopping an instance needs the user's "
    "confirmation and the write scope."
)


def prose(docstring: str) -> str:
    """Paragraphs of a docstring, each on one line."""
    return "\n\n".join(" ".join(p.split()) for p in docstring.split("\n\n"))


class AwsToolsServer(MCPServer):
    """The SDK's server, answering a prompt it cannot render as MCP says: -32602 Invalid params
    (the SDK would answer code 0 and log a traceback at ERROR for any caller's typo), and
    describing each tool by its docstring without the source's indentation."""

    def tool(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        """The SDK's decorator; the description, unless given, is the function's docstring as
        prose: each paragraph on one line (the SDK passes the docstring as written, with the
        source's line breaks and, before Python 3.13, its indentation, which clients show)."""

        def register(fn: _F) -> _F:
            description = kwargs.pop("description", None) or prose(inspect.getdoc(fn) or "")
            return super(AwsToolsServer, self).tool(*args, description=description, **kwargs)(fn)

        return register

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:  # an unknown prompt, or arguments that do not fit it
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None


def build_server(settings: Settings) -> MCPServer:
    """An ``MCPServer`` with every tool, resource and prompt registered.

    Multi-round requests of revision 2026-07-28 carry a sealed ``requestState``; sealing it with
    the shared session key (not the SDK's per-process default) lets any instance resume it.
    ``subscriptions/listen`` is not served: its stream never ends, which on Lambda means an
    invocation held to its timeout, and nothing here changes its lists at run time anyway.
    """
    # The SDK configures the root logger as it starts; MCP_LOG_LEVEL is the project's own
    # (servicekit.logs), never handed to the SDK, and the root logger is left as the host set it.
    with logs.root_logger_kept():
        server = AwsToolsServer(
            NAME,
            title=settings.resource_name,
            instructions=INSTRUCTIONS,
            version="0.1.0",
            request_state_security=RequestStateSecurity(
                codec=RotatingRequestStateCodec(settings.session_keys)
            ),
            subscriptions=False,
        )
    identity.register(server)
    ec2.register(server, settings.region)
    if settings.bedrock_log_group:
        bedrock_usage.register(server, settings.region, settings.bedrock_log_group)
    prompts.register(server)
    return server

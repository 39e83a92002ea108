"""Build the MCP server from the registry: one tool, one prompt and one resource per skill.

The SDK's decorators derive a tool's schema from a function signature; ours
come from pydantic input models, so each tool is assembled here once, by the
same code for every skill, instead of a hand-written wrapper per tool.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.server.mcpserver.resources.types import FunctionResource
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from mlops_engineer import __version__
from mlops_engineer.bundle import bundle_path
from mlops_engineer.catalog import ToolCard, builtin_catalog, cards_from_registry
from mlops_engineer.errors import ToolError
from mlops_engineer.redact import redact_text
from mlops_engineer.registry import Registry, Skill, ToolSpec
from mlops_engineer.runtime import ToolContext, execute, summary_text, wants_help
from mlops_engineer.schemas import HelpEnvelope, help_text
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace

logger = logging.getLogger("mlops_engineer")

INSTRUCTIONS = (
    "MLOps tools: each tool automates one skill (a written procedure served as the prompt of the "
    "same name and as the resource skill://<id>). Every call is {\"operation\": {\"action\": ..., ...}}; "
    "help=true with an action returns that action's complete input schema and examples, and an "
    "invalid call returns it too. Tools that change files or backends accept dry_run=true to show "
    "their plan first; destructive actions need confirm=true."
)
# An unknown tool's name is echoed back this far at most: it is the caller's text.
ECHOED_NAME_CHARS = 80


class _RawArguments(ArgModelBase):
    """Pass arguments through untouched, so our own validation produces our error shape."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def error_result(error: ToolError) -> CallToolResult:
    """Text for the model (code, message, hint) and the same as data, in a shape the outputSchema admits."""
    return CallToolResult(
        content=[TextContent(type="text", text=str(error))],
        structured_content=error.structured(),
        is_error=True,
    )


def unknown_tool_error(name: str, known: list[str]) -> ToolError:
    shown = name if len(name) <= ECHOED_NAME_CHARS else name[:ECHOED_NAME_CHARS] + f"... ({len(name)} characters)"
    return ToolError("not_found", f"No tool named {shown!r}.", "Tools: " + ", ".join(known) + ".")


class _Server(MCPServer):
    """The SDK's server, except that an unknown tool gets our structured error, not plain text."""

    def __init__(self, *args: Any, tool_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tool_names = tool_names

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        if name not in self._tool_names:
            return error_result(unknown_tool_error(name, self._tool_names))
        return await super().call_tool(name, arguments, context)


def _annotations(card: ToolCard) -> ToolAnnotations:
    return ToolAnnotations(
        title=card.title,
        read_only_hint=card.hints.read_only,
        destructive_hint=card.hints.destructive,
        idempotent_hint=card.hints.idempotent,
        open_world_hint=card.hints.open_world,
    )


def _tool(card: ToolCard, settings: Settings, workspace: Workspace) -> Tool:
    description, input_schema = card.listed(settings.catalog)

    async def handler(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        async def send_progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.report_progress(done, total, message)

        def on_progress(done: float, total: float | None, message: str | None) -> None:
            try:
                anyio.from_thread.run(send_progress, done, total, message)
            except Exception:  # the client may be gone; progress is best-effort
                logger.debug("progress notification dropped", exc_info=True)

        def call() -> tuple[ToolSpec, BaseModel]:
            spec = card.load()  # the tool's module is imported on its first call
            examples = card.skill.examples if wants_help(arguments) else None
            return spec, execute(spec, arguments, tool_ctx, examples)

        tool_ctx = ToolContext(workspace=workspace, settings=settings, on_progress=on_progress)
        try:
            # The SDK would run a sync tool in a thread too; abandoning it on cancel
            # lets the client's cancel return at once while the thread stops at its
            # next progress/cancellation point.
            spec, output = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            tool_ctx.cancelled.set()
            raise
        except ToolError as error:
            return error_result(error)
        text = help_text(output) if isinstance(output, HelpEnvelope) else redact_text(summary_text(spec, output))
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=output.model_dump(mode="json"),
        )

    return Tool(
        fn=handler,
        name=card.name,
        title=card.title,
        description=description,
        parameters=input_schema,
        # The schema is published as computed (result | error | help); `execute`
        # guarantees the output is an instance of one of them.
        fn_metadata=FuncMetadata(arg_model=_RawArguments, output_schema=card.output_schema),
        is_async=True,
        context_kwarg="ctx",
        annotations=_annotations(card),
    )


def _skill_prompt(skill: Skill) -> Prompt:
    def procedure() -> str:
        return f"Follow this procedure (skill {skill.id}).\n\n{skill.body}"

    # Built directly: `Prompt.from_function` derives an argument model per prompt, a millisecond
    # each at every start, for a prompt that takes no arguments.
    return Prompt(name=skill.id, title=skill.id, description=skill.description, arguments=[], fn=procedure)


def _text_resource(uri: str, name: str, description: str, text_fn: Any) -> FunctionResource:
    return FunctionResource(uri=uri, name=name, description=description, mime_type="text/markdown", fn=text_fn)


def build_server(settings: Settings, registry: Registry | None = None) -> MCPServer:
    """The server for `registry`, or for the built-in skills (from the catalog cache) when None."""
    cards = builtin_catalog() if registry is None else cards_from_registry(registry)
    workspace = Workspace(settings.workspace)
    server: MCPServer = _Server(
        tool_names=[card.name for card in cards],
        name="mlops-engineer",
        title="MLOps engineer",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[_tool(card, settings, workspace) for card in cards],
        log_level=settings.log_level,
    )
    for card in cards:
        skill = card.skill
        server.add_prompt(_skill_prompt(skill))
        server.add_resource(
            _text_resource(skill.uri, skill.id, skill.description, lambda path=skill.path: path.read_text("utf-8"))
        )
    agent_file = bundle_path("agent") / "mlops-engineer.md"
    server.add_resource(
        _text_resource("agent://mlops-engineer", "mlops-engineer agent", "The agent definition.", agent_file.read_text)
    )
    return server

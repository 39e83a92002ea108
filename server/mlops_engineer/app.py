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
from mlops_engineer.registry import Registry, Skill, ToolSpec
from mlops_engineer.runtime import ToolContext, execute
from mlops_engineer.settings import Settings
from mlops_engineer.workspace import Workspace

logger = logging.getLogger("mlops_engineer")

INSTRUCTIONS = (
    "MLOps tools: each tool automates one skill (a written procedure served as the prompt of the "
    "same name and as the resource skill://<id>). Tools that change files or backends accept "
    "dry_run=true to show their plan first; destructive actions need confirm=true."
)


class _RawArguments(ArgModelBase):
    """Pass arguments through untouched, so our own validation produces our error shape."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def error_result(error: ToolError) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=str(error))],
        structured_content={"error": error.info().model_dump()},
        is_error=True,
    )


def _annotations(card: ToolCard) -> ToolAnnotations:
    return ToolAnnotations(
        title=card.title,
        read_only_hint=card.hints.read_only,
        destructive_hint=card.hints.destructive,
        idempotent_hint=card.hints.idempotent,
        open_world_hint=card.hints.open_world,
    )


def _tool(card: ToolCard, settings: Settings, workspace: Workspace) -> Tool:
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
            return spec, execute(spec, arguments, tool_ctx)

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
        return CallToolResult(
            content=[TextContent(type="text", text=spec.summarize(output))],
            structured_content=output.model_dump(mode="json"),
        )

    return Tool(
        fn=handler,
        name=card.name,
        title=card.title,
        description=card.description,
        parameters=card.input_schema,
        # The schema is published as computed; `execute` already guarantees the
        # output is an instance of the tool's output model.
        fn_metadata=FuncMetadata(arg_model=_RawArguments, output_schema=card.output_schema),
        is_async=True,
        context_kwarg="ctx",
        annotations=_annotations(card),
    )


def _skill_prompt(skill: Skill) -> Prompt:
    def procedure() -> str:
        return f"Follow this procedure (skill {skill.id}).\n\n{skill.body}"

    return Prompt.from_function(procedure, name=skill.id, title=skill.id, description=skill.description)


def _text_resource(uri: str, name: str, description: str, text_fn: Any) -> FunctionResource:
    return FunctionResource(uri=uri, name=name, description=description, mime_type="text/markdown", fn=text_fn)


def build_server(settings: Settings, registry: Registry | None = None) -> MCPServer:
    """The server for `registry`, or for the built-in skills (from the catalog cache) when None."""
    cards = builtin_catalog() if registry is None else cards_from_registry(registry)
    workspace = Workspace(settings.workspace)
    server: MCPServer = MCPServer(
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

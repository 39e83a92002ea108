"""What the tool catalogue costs a model: bytes and tokens per tool, compact (default) vs full.

Each catalogue is read the way a client reads it: `mlops-engineer serve` spawned over
stdio (with `--catalog compact|full`), `tools/list` through the SDK's client. For each
tool it counts what clients put in the model's context: name + description + inputSchema
as compact JSON. It also prints the size of the whole `tools/list` answer (with titles,
annotations and outputSchemas, which clients keep but do not usually show the model).

Tokens are counted with the cl100k_base encoding. tiktoken fetches its BPE files from the
internet on first use, which these machines cannot reach, so the count uses `bpe-openai`,
whose cl100k_base is the same encoding compiled in (a proxy for any model's tokenizer).

    uv run --all-extras python benchmarks/catalog.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from _common import finish, print_header
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

BUDGET_BYTES = 1000  # per tool on average, in the default catalogue (asserted by tests/contract)
SERVER = Path(sys.executable).parent / "mlops-engineer"


def _tokens() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")


async def _listing(catalog: str, workspace: Path) -> tuple[list[dict[str, Any]], int]:
    params = StdioServerParameters(
        command=str(SERVER), args=["--workspace", str(workspace), "serve", "--catalog", catalog], cwd=str(workspace),
        env={"MLOPS_ENGINEER_CONFIG": str(workspace / "no-config.toml")},
    )
    with open(workspace / f"{catalog}.stderr", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listing = await session.list_tools()
    whole = len(listing.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listing.tools], whole


def measure(workspace: Path) -> dict[str, Any]:
    encoding = _tokens()
    results: dict[str, Any] = {}
    for catalog in ("compact", "full"):
        tools, whole = anyio.run(_listing, catalog, workspace)
        per_tool = {}
        for tool in tools:
            seen = json.dumps(
                {"name": tool["name"], "description": tool.get("description", ""), "inputSchema": tool["inputSchema"]},
                separators=(",", ":"),
            )
            per_tool[tool["name"]] = {"bytes": len(seen.encode("utf-8")), "tokens": len(encoding.encode(seen))}
        results[catalog] = {"tools": per_tool, "tools_list_bytes": whole}
    return results


def report(results: dict[str, Any]) -> None:
    compact, full = results["compact"]["tools"], results["full"]["tools"]
    print(f"{'tool':<32} {'compact B':>10} {'tokens':>7} {'full B':>8} {'tokens':>7} {'ratio':>6}")
    for name in compact:
        c, f = compact[name], full[name]
        print(f"{name:<32} {c['bytes']:>10} {c['tokens']:>7} {f['bytes']:>8} {f['tokens']:>7} {f['bytes'] / c['bytes']:>6.1f}")
    for label, tools in (("compact", compact), ("full", full)):
        n = len(tools)
        total_b = sum(t["bytes"] for t in tools.values())
        total_t = sum(t["tokens"] for t in tools.values())
        print(f"{label:<8} {n} tools: {total_b} B, {total_t} tokens in all; {total_b / n:.0f} B and "
              f"{total_t / n:.0f} tokens per tool; whole tools/list answer {results[label]['tools_list_bytes']} B")
    average = sum(t["bytes"] for t in compact.values()) / len(compact)
    print(f"budget: <= {BUDGET_BYTES} B per tool on average in the default catalogue -> {average:.0f} B "
          f"({'met' if average <= BUDGET_BYTES else 'NOT met'}); full / compact = "
          f"{sum(t['bytes'] for t in full.values()) / sum(t['bytes'] for t in compact.values()):.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="Also write every figure to this JSON file.")
    args = parser.parse_args()
    print_header()
    with tempfile.TemporaryDirectory(prefix="mlops-catalog-") as tmp:
        results = measure(Path(tmp))
    report(results)
    finish(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

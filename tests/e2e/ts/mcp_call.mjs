// Drive an MCP server over stdio with the official TypeScript SDK, the way Claude Code and
// MCP Inspector do: connect, list the tools (which caches their output schemas), then call
// tools with client.callTool, which validates structuredContent against those schemas.
//
//   node mcp_call.mjs '<server JSON: {"command", "args", "env", "cwd"}>'
//
// stdin: one scenario per line, JSON:
//   {"name": "...", "tool": "...", "arguments": {...},
//    "abortAfterProgress": N,   // optional: abort the call after N progress notifications
//    "timeoutMs": T}            // optional: the SDK's request timeout (default 300 s)
// stdout: one JSON line once connected ({"connected": true, "tools": [...]}), then one line
// per scenario, in order:
//   {"name", "ok": true, "isError", "structuredContent", "text", "progress": [...]}
//   {"name", "ok": false, "error": {"message", "code"}, "progress": [...], "events": [...]}
// At end of input: a last line {"closed": true, "clientErrors": [...]}: what the SDK reported
// through client.onerror (e.g. a response to a request it had already cancelled).
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");

const server = JSON.parse(process.argv[2]);
const transport = new StdioClientTransport({ ...server, stderr: "inherit" });
const client = new Client({ name: "mlops-engineer-ts-e2e", version: "0.0.0" });
const clientErrors = [];
client.onerror = (error) => clientErrors.push(String(error?.message ?? error));

await client.connect(transport);
const listed = await client.listTools();
emit({
  connected: true,
  tools: listed.tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema, hasOutputSchema: Boolean(t.outputSchema) })),
});

async function run(scenario) {
  const progress = [];
  const events = [];
  const controller = new AbortController();
  const options = {
    signal: controller.signal,
    timeout: scenario.timeoutMs ?? 300_000,
    onprogress: ({ progress: done, total, message }) => {
      progress.push({ done, total, message });
      events.push("progress");
      if (scenario.abortAfterProgress && progress.length === scenario.abortAfterProgress) {
        events.push("abort");
        controller.abort("cancelled by the test");
      }
    },
  };
  const started = performance.now();
  try {
    const result = await client.callTool({ name: scenario.tool, arguments: scenario.arguments ?? {} }, undefined, options);
    events.push("resolved");
    return {
      ok: true,
      isError: Boolean(result.isError),
      structuredContent: result.structuredContent ?? null,
      text: (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n"),
      progress,
      events,
      ms: Math.round(performance.now() - started),
    };
  } catch (error) {
    events.push("rejected");
    return {
      ok: false,
      error: { message: String(error?.message ?? error), code: error?.code ?? null },
      progress,
      events,
      ms: Math.round(performance.now() - started),
    };
  }
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  const scenario = JSON.parse(line);
  emit({ name: scenario.name, ...(await run(scenario)) });
}
await client.close();
emit({ closed: true, clientErrors });

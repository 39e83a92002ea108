#!/usr/bin/env bash
# Validate the Claude Code plugin and marketplace manifests with the real CLI.
# Usage: scripts/validate_plugin.sh [repo-dir]   (default: the repository holding this script)
# The full check (install from a local marketplace, server connects) is
# tests/integration/test_claude_plugin.py.
set -euo pipefail

repo="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

if ! command -v claude >/dev/null 2>&1; then
  echo "error: the Claude Code CLI (claude) is not on PATH." >&2
  echo "Install it with: npm install -g @anthropic-ai/claude-code" >&2
  exit 1
fi

# An empty HOME: validation reads no user config and leaves none behind.
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT

echo "claude $(HOME="$home" claude --version)"
# The folder: marketplace.json and every plugin it lists. Then plugin.json on its own.
HOME="$home" claude plugin validate --strict "$repo"
HOME="$home" claude plugin validate --strict "$repo/.claude-plugin/plugin.json"

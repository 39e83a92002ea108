"""Python sources to analyse: scripts as they are, notebooks as their code cells.

A notebook's cells are joined into one module (in cell order, which is the order a
top-to-bottom run executes); each line remembers its cell and its line in that cell, so
a finding points at what the user sees. IPython magics and shell lines become blank lines.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from mlops_engineer.errors import ToolError


@dataclass
class Source:
    file: str  # workspace-relative
    tree: ast.Module
    text: str
    cells: list[tuple[int, int]] | None = None  # per joined line (0-based): (cell number, line in cell), 1-based

    def where(self, line: int) -> tuple[int, str | None]:
        """(line to report, detail): a notebook reports the line in its cell and names the cell."""
        if not self.cells or not 0 < line <= len(self.cells):
            return line, None
        cell, in_cell = self.cells[line - 1]
        return in_cell, f"cell {cell}"

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _notebook_code(path: Path) -> tuple[str, list[tuple[int, int]]]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ToolError("invalid_input", f"{path.name} is not a readable notebook: {exc}", "Open and re-save it in Jupyter.") from exc
    lines: list[str] = []
    origin: list[tuple[int, int]] = []
    code_cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for i, line in enumerate(text.splitlines(), start=1):
            stripped = line.lstrip()
            lines.append("" if stripped.startswith(("%", "!")) else line)
            origin.append((number, i))
        lines.append("")
        origin.append((number, len(text.splitlines()) + 1))
    return "\n".join(lines) + "\n", origin


def load_source(path: Path, relative: str) -> Source | None:
    """The parsed source, or None when it does not parse (reported by the caller)."""
    if path.suffix == ".ipynb":
        text, cells = _notebook_code(path)
    else:
        text, cells = path.read_text(encoding="utf-8", errors="replace"), None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    return Source(relative, tree, text, cells)

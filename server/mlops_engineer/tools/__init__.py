"""One module per skill. Each defines `TOOL = ToolSpec(...)`; importing it must not import any ML SDK."""

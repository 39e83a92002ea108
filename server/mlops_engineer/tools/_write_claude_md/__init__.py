"""The parts of `tools/write_claude_md.py`: models, project facts, commands, composing and auditing."""

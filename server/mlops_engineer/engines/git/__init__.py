"""git for the git skills, always as a checked subprocess (never GitPython).

`runner` is the shared layer: `run_git(repo, args, *, allow_hooks=(), timeout, check_cancelled,
check=True, input_text=None, stdout_to=None, max_output, ceiling=None) -> GitResult(args,
returncode, stdout, stderr, truncated)`, `GitError` (a `ToolError`), `check_ref_name(name)`,
`check_pathspec(path, workspace, repo)`, `repo_root(path, workspace)`. Each skill keeps its
own modules beside it (`conventional`, `secrets`, `staging` for commit_changes).
"""

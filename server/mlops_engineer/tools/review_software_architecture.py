"""Architecture review of a Python/ML package from its import graph (grimp): findings with
evidence and a Markdown report; import-linter contracts verified with lint-imports.
"""

from __future__ import annotations

from mlops_engineer.registry import Hints, ToolSpec
from mlops_engineer.runtime import ToolContext
from mlops_engineer.schemas import action_hint
from mlops_engineer.tools._review_software_architecture.actions import run_check, run_propose, run_review
from mlops_engineer.tools._review_software_architecture.models import ArchitectureInput, ArchitectureOutput, Check, Review


def run(inp: ArchitectureInput, ctx: ToolContext) -> ArchitectureOutput:
    from mlops_engineer.optional import import_optional

    import_optional("grimp", "review")
    op = inp.operation
    if isinstance(op, Review):
        return run_review(op, inp, ctx)
    if isinstance(op, Check):
        return run_check(op, inp, ctx)
    return run_propose(op, inp, ctx)


def summarize(out: ArchitectureOutput) -> str:
    prefix = "[dry run] " if out.dry_run else ""
    head = f"{prefix}{out.package} ({out.origin}): {out.modules} modules, {out.imports} imports"
    if out.action == "review":
        worst = ", ".join(f"{n} {s}" for s, n in reversed(out.by_severity.items()) if n)
        return f"{head}, {len(out.layers)} layers; {out.findings_total} findings ({worst or 'none'}); report {out.files[-1] if out.files else '-'}."
    kept = sum(1 for c in out.contracts if c.kept)
    text = f"{head}; {len(out.contracts)} contract(s), {kept} kept by our check"
    if any(c.agrees is not None for c in out.contracts):
        agree = sum(1 for c in out.contracts if c.agrees)
        text += f"; agrees with lint-imports on {agree}/{len(out.contracts)}"
    return text + "."


TOOL = ToolSpec(
    name="review_software_architecture",
    title="Review software architecture (grimp, import-linter)",
    description=__doc__ or "",
    input_model=ArchitectureInput,
    output_model=ArchitectureOutput,
    run=run,
    summarize=summarize,
    # destructive: propose_contracts with confirm=true replaces an existing import-linter file.
    hints=Hints(read_only=False, destructive=True, idempotent=True, open_world=False),
    input_hint=action_hint(ArchitectureInput, '{"operation": {"action": "review"}, "package": "optuna"}'),
)

"""Input and output models of review_software_architecture."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from mlops_engineer.contract import StrictModel, ToolInput, ToolOutput
from mlops_engineer.engines.review.architecture_contracts import Contract
from mlops_engineer.engines.review.findings import Finding, Severity

PackageName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Review(StrictModel):
    """Cycles, layers, serving/training/web boundaries, coupling, test reach.

    Writes findings.json/csv, modules.csv and report.md (with a Mermaid diagram of the
    layers) under `out_dir`, and the report also to `report` when given.
    """

    action: Literal["review"]
    tests: list[str] | None = Field(default=None, description="Workspace folders of test files; default: tests/ or test/ beside the package (and tests folders inside it).")
    report: str | None = Field(default=None, description="Also write the Markdown report here, e.g. docs/architecture-review.md.")
    severity: Severity = Field(default="info", description="Leave findings below this severity out of the response (the files keep all).")


class ProposeContracts(StrictModel):
    """Write import-linter contracts (confirm), verify them.

    The inferred layers as an import-linter layers contract, plus forbidden contracts for the
    ML boundaries (serving must not import training or notebooks, models not the web layer).
    """

    action: Literal["propose_contracts"]
    config: str = Field(default=".importlinter", description="Where to write the import-linter configuration (workspace).")


class Check(StrictModel):
    """Check contracts here and with lint-imports.

    Runs our check (grimp) and `lint-imports` on the same contracts and reports whether ours
    holds every pair and import lint-imports reports.
    """

    action: Literal["check"]
    config: str | None = Field(default=None, description="An import-linter INI file in the workspace (.importlinter, setup.cfg).")
    contracts: list[Contract] = Field(default_factory=list, description="Contracts given inline instead of `config`.")

    @model_validator(mode="after")
    def _one_source(self) -> Check:
        if (self.config is None) == (not self.contracts):
            raise ValueError("give either `config` (a file in the workspace) or `contracts` (inline), not both or neither")
        return self


Operation = Annotated[Review | ProposeContracts | Check, Field(discriminator="action")]


class ArchitectureInput(ToolInput):
    operation: Operation = Field(description="What to do; `action` selects the operation.")
    package: PackageName | None = Field(default=None, description="An installed top-level package, read in place (read-only), e.g. optuna.")
    path: str | None = Field(default=None, description="A package folder in the workspace (holding __init__.py), e.g. src/mypkg.")
    out_dir: str | None = Field(default=None, description="Workspace folder for the review's files; default .mlops/review/architecture/<package>.")

    @model_validator(mode="after")
    def _one_target(self) -> ArchitectureInput:
        if (self.package is None) == (self.path is None):
            raise ValueError("give exactly one of `package` (installed, read in place) or `path` (a package folder in the workspace)")
        return self


class ContractRow(BaseModel):
    name: str
    type: str
    kept: bool = Field(description="Our check's verdict.")
    lint_imports_kept: bool | None = Field(default=None, description="lint-imports' verdict; null when it did not run (dry run, no confirm).")
    broken_pairs: list[str] = Field(default_factory=list, description="importer -> imported packages our check finds (first 20).")
    illegal_imports: int = Field(default=0, description="Direct imports lying on some illegal chain (all listed in contracts.csv).")
    lint_imports_pairs: int = 0
    lint_imports_imports: int = Field(default=0, description="Imports lint-imports lists in its chains.")
    found_of_lint_imports: str = Field(default="", description="Of lint-imports' pairs and imports, how many we report: e.g. '9/9 pairs, 107/107 imports'.")
    missing: list[str] = Field(default_factory=list, description="What lint-imports reports and we do not (empty when we agree).")
    agrees: bool | None = None


class LayerRow(BaseModel):
    layer: int = Field(description="0 = imports no sibling; higher layers import lower ones.")
    packages: list[str]


class ArchitectureOutput(ToolOutput):
    action: str
    package: str
    origin: Literal["installed", "workspace"] = Field(description="installed: read in place, read-only; workspace: a folder of the workspace.")
    modules: int = 0
    imports: int = Field(default=0, description="Direct imports between the package's modules.")
    layers: list[LayerRow] = Field(default_factory=list, description="Inferred layers of the root's children, top first.")
    by_severity: dict[str, int] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list, description="The most severe findings (at most 25); the files hold all.")
    findings_total: int = 0
    contracts: list[ContractRow] = Field(default_factory=list)
    config_text: str | None = Field(default=None, description="The proposed import-linter configuration.")
    lint_imports_command: str | None = Field(default=None, description="The lint-imports command run (or to run).")
    files: list[str] = Field(default_factory=list, description="Workspace files written (or, in a dry run, to be written).")
    next_steps: list[str] = Field(default_factory=list)

"""Static leakage and reproducibility checks on one Python script or notebook.

A small forward data-flow pass over the module in execution order (a notebook's cells
top to bottom): each variable remembers the variables it was derived from, and whether
it holds test rows (an output of `train_test_split` in a test position, a name such as
`X_test`, a file named `test`, or anything derived from one). From that it finds the three
kinds of leakage of Yang et al., "Data Leakage in Notebooks: Static Detection and Better
Processes" (ASE 2022):

- preprocessing: a scaler, encoder, imputer or feature selector fitted before the split on
  data that flows into the split, or fitted on data holding test rows;
- overlap: a model trained on test rows, or resampling (SMOTE, oversampling) before the split;
- multi-test: the test set scored for more than one model or inside a loop (model
  selection on test), or used for early stopping.

It also flags random calls without a seed, and hard-coded absolute paths. The pass is
name-based and intra-file: it under-reports flows through functions and containers rather
than guessing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from mlops_engineer.engines.review.code_source import Source
from mlops_engineer.engines.review.findings import Finding, Severity, finding

PREPROCESSORS = {
    "StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer", "QuantileTransformer",
    "PowerTransformer", "SimpleImputer", "KNNImputer", "IterativeImputer", "OneHotEncoder", "OrdinalEncoder",
    "TargetEncoder", "PCA", "TruncatedSVD", "KernelPCA", "SelectKBest", "SelectPercentile", "RFE", "RFECV",
    "VarianceThreshold", "SelectFromModel", "SequentialFeatureSelector", "CountVectorizer", "TfidfVectorizer",
    "KBinsDiscretizer", "ColumnTransformer",
}
RESAMPLERS = {
    "SMOTE", "ADASYN", "BorderlineSMOTE", "SVMSMOTE", "SMOTENC", "SMOTEN", "KMeansSMOTE", "RandomOverSampler",
    "RandomUnderSampler", "SMOTETomek", "SMOTEENN", "NearMiss", "TomekLinks", "ClusterCentroids",
}
SPLITTERS = {"train_test_split"}
FIT_METHODS = {"fit", "fit_transform", "fit_resample", "partial_fit"}
EVAL_METHODS = {"score", "predict", "predict_proba", "predict_log_proba", "decision_function", "evaluate"}
METRICS = re.compile(r"(_score|_error|_loss|^log_loss|^classification_report|^confusion_matrix)$")
EARLY_STOPPING = {"eval_set", "validation_data", "valid_sets", "eval_sets", "X_val", "eval_X", "validation_set"}
# Calls whose result depends on a random draw unless `random_state` (or a seed) is given.
SEEDED = {
    "train_test_split", "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor", "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor", "MLPClassifier", "MLPRegressor",
    "SGDClassifier", "SGDRegressor", "KMeans", "MiniBatchKMeans", "ShuffleSplit", "StratifiedShuffleSplit",
    "GroupShuffleSplit", "BaggingClassifier", "BaggingRegressor", "AdaBoostClassifier", "AdaBoostRegressor",
    "IsolationForest", "RandomizedSearchCV", *RESAMPLERS - {"NearMiss", "TomekLinks"},
}
SHUFFLED_SPLITTERS = {"KFold", "StratifiedKFold", "RepeatedKFold", "RepeatedStratifiedKFold"}
NUMPY_RANDOM = {"rand", "randn", "randint", "choice", "shuffle", "permutation", "normal", "uniform", "random", "binomial"}
TEST_NAME = re.compile(r"(?:^|_)(?:test|holdout)(?:_|$|\d)|^[xy]_?te?st$|^test", re.IGNORECASE)
VALIDATION_NAME = re.compile(r"(?:^|_)(?:val|valid|validation|dev|eval)(?:_|$|\d)", re.IGNORECASE)
TEST_FILE = re.compile(r"(?:^|[/_.\-])(?:test|holdout)(?:[_.\-]|$)", re.IGNORECASE)
ABSOLUTE_PATH = re.compile(
    r"^(?:/(?:home|Users|mnt|data|opt|srv|var|root|tmp|media|scratch|content|kaggle|workspace|dbfs|Volumes)/\S+"
    r"|[A-Za-z]:[\\/]\S+|~/\S+)$"
)


def _callee(call: ast.Call) -> tuple[str, ast.expr | None]:
    """(the called name, the receiver for a method call)."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr, call.func.value
    if isinstance(call.func, ast.Name):
        return call.func.id, None
    return "", None


def _names(node: ast.AST | None) -> set[str]:
    """Variables read in `node`; a called function's own name (`train_test_split(...)`) is not data."""
    if node is None:
        return set()
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called}


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_none(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _calls(node: ast.AST) -> list[ast.Call]:
    """Calls inside `node`, innermost first (the order Python evaluates them), ties by position."""
    found = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
    depth = {id(node): 0}
    for parent in ast.walk(node):
        for child in ast.iter_child_nodes(parent):
            depth[id(child)] = depth.get(id(parent), 0) + 1
    return sorted(found, key=lambda c: (-depth.get(id(c), 0), c.lineno, c.col_offset))


@dataclass
class _Fit:
    line: int
    data: set[str]
    results: set[str]
    kind: str  # "preprocessing" or "resampling"
    name: str


@dataclass
class _Eval:
    line: int
    model: str | None
    in_loop: bool


@dataclass
class Flow:
    source: Source
    deps: dict[str, set[str]] = field(default_factory=dict)
    test: set[str] = field(default_factory=set)
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # var -> (kind, class)
    split_seen: bool = False
    prefits: list[_Fit] = field(default_factory=list)
    evals: list[_Eval] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    global_seed: bool = False

    # ------------------------------------------------------------------ helpers

    def ancestors(self, names: set[str]) -> set[str]:
        out = set(names)
        for name in names:
            out |= self.deps.get(name, set())
        return out

    def tainted(self, node: ast.AST | None) -> bool:
        if node is None:
            return False
        if any(n in self.test or TEST_NAME.search(n) for n in _names(node)):
            return True
        return any(isinstance(c, ast.Constant) and isinstance(c.value, str) and TEST_FILE.search(c.value)
                   for c in ast.walk(node))

    def kind_of(self, receiver: ast.expr | None) -> tuple[str, str] | None:
        if isinstance(receiver, ast.Name):
            return self.kinds.get(receiver.id)
        if isinstance(receiver, ast.Call):
            name, _ = _callee(receiver)
            return _constructed(name)
        return None

    def add(self, check: str, severity: Severity, line: int, title: str, fix: str, kind: str,
            numbers: dict | None = None) -> None:
        shown, cell = self.source.where(line)
        excerpt = self.source.line_text(line)[:160]
        detail = "; ".join(x for x in (cell, f"ASE 2022 kind: {kind}" if kind else None, f"code: {excerpt}") if x)
        self.findings.append(finding(
            check, severity, title, fix, numbers=numbers, file=self.source.file, line=shown, detail=detail,
            command=f"mlops-engineer call review_data_analysis --input '{{\"operation\": {{\"action\": \"code\", \"paths\": [\"{self.source.file}\"]}}}}'",
            key=f"{cell or ''}:{line}:{title}",
        ))

    # ------------------------------------------------------------------ statements

    def run(self) -> list[Finding]:
        self.global_seed = any(
            isinstance(c, ast.Call) and _callee(c)[0] in ("seed", "manual_seed", "set_seed", "set_random_seed")
            for c in ast.walk(self.source.tree)
        )
        self.block(self.source.tree.body, 0)
        self.multi_test()
        self.paths()
        return self.findings

    def block(self, statements: list[ast.stmt], loop: int) -> None:
        for s in statements:
            if isinstance(s, ast.For | ast.AsyncFor):
                self.calls(s.iter, loop)
                self.assign([s.target], s.iter)
                self.block(s.body, loop + 1)
                self.block(s.orelse, loop)
            elif isinstance(s, ast.While):
                self.calls(s.test, loop)
                self.block(s.body, loop + 1)
                self.block(s.orelse, loop)
            elif isinstance(s, ast.If):
                self.calls(s.test, loop)
                self.block(s.body, loop)
                self.block(s.orelse, loop)
            elif isinstance(s, ast.With | ast.AsyncWith):
                for item in s.items:
                    self.calls(item.context_expr, loop)
                self.block(s.body, loop)
            elif isinstance(s, ast.Try):
                self.block(s.body, loop)
                for handler in s.handlers:
                    self.block(handler.body, loop)
                self.block(s.orelse, loop)
                self.block(s.finalbody, loop)
            elif isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.block(s.body, loop)  # read in place: scripts define and call their steps in order
            elif isinstance(s, ast.Assign):
                self.calls(s.value, loop, s.targets)
                self.assign(s.targets, s.value)
            elif isinstance(s, ast.AnnAssign | ast.AugAssign):
                if s.value is not None:
                    self.calls(s.value, loop, [s.target])
                    self.assign([s.target], s.value, augment=isinstance(s, ast.AugAssign))
            else:
                for child in ast.iter_child_nodes(s):
                    if isinstance(child, ast.expr):
                        self.calls(child, loop)

    def assign(self, targets: list[ast.expr], value: ast.expr, augment: bool = False) -> None:
        used = self.ancestors(_names(value))
        tainted = self.tainted(value)
        split = isinstance(value, ast.Call) and _callee(value)[0] in SPLITTERS
        constructed = _constructed(_callee(value)[0]) if isinstance(value, ast.Call) else None
        for target in targets:
            if isinstance(target, ast.Tuple | ast.List):
                for i, element in enumerate(target.elts):
                    # A split's second, fourth... outputs are test rows, unless named as a validation split.
                    held_out = split and i % 2 == 1 and not (isinstance(element, ast.Name) and VALIDATION_NAME.search(element.id))
                    self._bind(element, used, tainted or held_out, augment, None)
            else:
                self._bind(target, used, tainted, augment, constructed)

    def _bind(self, target: ast.expr, used: set[str], tainted: bool, augment: bool, kind: tuple[str, str] | None) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            self.deps[name] = (self.deps.get(name, set()) if augment else set()) | used | {name}
            if tainted:
                self.test.add(name)
            elif not augment:
                self.test.discard(name)
            if kind:
                self.kinds[name] = kind
            else:
                self.kinds.pop(name, None)
            return
        # df["x"] = ..., obj.attr = ...: the container now also derives from the value.
        for base in _names(target):
            self.deps[base] = self.deps.get(base, {base}) | used
            if tainted:
                self.test.add(base)

    # ------------------------------------------------------------------ calls

    def calls(self, node: ast.expr, loop: int, targets: list[ast.expr] | None = None) -> None:
        results = set().union(*(_names(t) for t in targets)) if targets else set()
        for call in _calls(node):
            name, receiver = _callee(call)
            self.seed(call, name, receiver)
            if name in SPLITTERS:
                self.split(call)
            elif name in FIT_METHODS and receiver is not None:
                self.fit(call, name, receiver, results if call is node else set())
            elif name in EVAL_METHODS and receiver is not None and any(self.tainted(a) for a in call.args):
                self.evals.append(_Eval(call.lineno, ast.unparse(receiver)[:60], loop > 0))
            elif METRICS.search(name) and any(self.tainted(a) for a in [*call.args, *(k.value for k in call.keywords)]):
                self.evals.append(_Eval(call.lineno, None, loop > 0))

    def split(self, call: ast.Call) -> None:
        ancestors = self.ancestors(_names(ast.Tuple(elts=list(call.args), ctx=ast.Load())))
        for fit in self.prefits:
            if not (fit.data | fit.results) & ancestors:
                continue
            if fit.kind == "resampling":
                self.add("code.resampling_before_split", "high", fit.line,
                         f"{fit.name} resamples the data before the train/test split",
                         "Split first, then resample the training rows only (imblearn's Pipeline does this inside CV); "
                         "synthetic or repeated rows otherwise land in both splits.", "overlap")
            else:
                self.add("code.preprocessing_before_split", "high", fit.line,
                         f"{fit.name} is fitted before the train/test split, on rows that become test rows",
                         "Split first; fit the preprocessing on the training rows only (put it in a Pipeline with the "
                         "model) and only transform the test rows.", "preprocessing")
        self.prefits = []
        self.split_seen = True

    def fit(self, call: ast.Call, method: str, receiver: ast.expr, results: set[str]) -> None:
        kind = self.kind_of(receiver)
        data_args = [*call.args, *(k.value for k in call.keywords if k.arg in ("X", "y", "x", "raw_documents"))]
        data = set().union(*(_names(a) for a in data_args)) if data_args else set()
        on_test = any(self.tainted(a) for a in data_args)
        line = call.lineno
        if kind and kind[0] in ("preprocessing", "resampling"):
            if on_test:
                self.add("code.fit_on_test", "high", line,
                         f"{kind[1]}.{method} is fitted on data that holds test rows",
                         "Fit on the training rows only, then transform the test rows with the fitted object.",
                         "preprocessing" if kind[0] == "preprocessing" else "overlap")
            elif not self.split_seen:
                self.prefits.append(_Fit(line, data, results, kind[0], kind[1]))
        elif on_test:
            self.add("code.train_on_test", "critical", line, f"a model is trained on test rows ({ast.unparse(receiver)[:40]}.{method})",
                     "Train on the training rows only; the test rows are for one final evaluation.", "overlap")
        for keyword in call.keywords:
            if keyword.arg in EARLY_STOPPING and self.tainted(keyword.value):
                self.add("code.early_stopping_on_test", "high", line, f"the test set is used for early stopping ({keyword.arg})",
                         "Hold out a validation split from the training rows for early stopping; keep the test set for "
                         "the final score only.", "multi-test")
        if isinstance(receiver, ast.Name):  # a fitted object carries what it saw
            self.deps[receiver.id] = self.deps.get(receiver.id, {receiver.id}) | self.ancestors(data)

    def multi_test(self) -> None:
        models = sorted({e.model for e in self.evals if e.model})
        looped = [e for e in self.evals if e.in_loop]
        if len(models) < 2 and not looped:
            return
        line = (looped[0] if looped else next(e for e in self.evals if e.model == models[1])).line
        why = "inside a loop" if looped else f"for {len(models)} models ({', '.join(models[:4])})"
        self.add("code.multi_test", "high", line, f"the test set is scored {why}: model selection on test data",
                 "Select models and hyperparameters on a validation split or with cross-validation on the training rows; "
                 "score the chosen model on the test set once.", "multi-test",
                 numbers={"test_evaluations": len(self.evals), "models": len(models), "in_loop": len(looped)})

    def seed(self, call: ast.Call, name: str, receiver: ast.expr | None) -> None:
        if self.global_seed or any(k.arg is None for k in call.keywords):
            return  # seeded once for all, or `**params` may carry random_state: under-report rather than guess
        unseeded = False
        if name in SEEDED:
            unseeded = _is_none(_keyword(call, "random_state")) and not (
                name == "train_test_split" and isinstance(_keyword(call, "shuffle"), ast.Constant)
                and _keyword(call, "shuffle").value is False)  # type: ignore[union-attr]
        elif name in SHUFFLED_SPLITTERS:
            shuffle = _keyword(call, "shuffle")
            unseeded = isinstance(shuffle, ast.Constant) and shuffle.value is True and _is_none(_keyword(call, "random_state"))
        elif name == "sample" and receiver is not None and ast.unparse(receiver) != "random":
            unseeded = _is_none(_keyword(call, "random_state"))
        elif name in NUMPY_RANDOM and receiver is not None and ast.unparse(receiver) in ("np.random", "numpy.random"):
            unseeded = True
        elif name == "default_rng" and not call.args and _is_none(_keyword(call, "seed")):
            unseeded = True
        if unseeded:
            self.add("code.seed_missing", "low", call.lineno, f"{name}() draws random numbers without a seed",
                     "Pass random_state=<int> (or seed the generator once at the top) so reruns give the same result.", "")

    def paths(self) -> None:
        for node in ast.walk(self.source.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ABSOLUTE_PATH.match(node.value):
                self.add("repro.absolute_path", "low", node.lineno, f"hard-coded absolute path {node.value[:80]!r}",
                         "Use a path relative to the project (or a setting / environment variable), so the code runs on "
                         "another machine.", "")


def _constructed(name: str) -> tuple[str, str] | None:
    if name in PREPROCESSORS:
        return ("preprocessing", name)
    if name in RESAMPLERS:
        return ("resampling", name)
    return None


def review_source(source: Source) -> list[Finding]:
    return Flow(source).run()

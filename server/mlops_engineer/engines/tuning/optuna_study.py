"""Optuna studies: storage (SQLite in the workspace, or PostgreSQL for many workers), samplers,
pruners, an exact trial budget shared by every worker, and the PNG plots.

`n_trials` is the number of finished (complete or pruned) trials the *study* should
have, not the number this call adds: calling again with the same input finds the
budget spent and runs nothing, and two workers on one PostgreSQL study stop together
at exactly N. Trial numbers are assigned by the storage under a row lock, so a trial
whose number would exceed the budget knows it and steps aside. The budget is read with
one aggregate query per check (`trial_counts`), so its cost per trial does not grow with
the study (listing the trials to count them did).
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlops_engineer.engines.tuning.mlflow_runs import TrialRecord
from mlops_engineer.engines.tuning.objective import Cancelled, Objective, UserCodeExit
from mlops_engineer.engines.tuning.space import suggest
from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.redact import redact_text

if TYPE_CHECKING:
    from pathlib import Path

    from optuna import Study
    from optuna.storages import RDBStorage

    from mlops_engineer.workspace import Workspace

SamplerName = Literal["tpe", "cmaes", "random", "nsga2"]
PrunerName = Literal["none", "median", "successive_halving", "hyperband"]
EMBEDDED_STORAGE = "optuna.db"
OVER_BUDGET = "mlops_engineer.over_budget"
MLFLOW_RUN = "mlflow_run_id"
OWNER = "mlops_engineer.owner"
MAX_CONSECUTIVE_FAILURES = 3
HEARTBEAT_S = 10
GRACE_S = 60
# How long a call waits, without any trial finishing, for other live workers holding the last
# slots of the budget; then it returns what the study holds (stopped_by "others_running").
WAIT_FOR_OTHERS_S = 300.0


@dataclass(frozen=True)
class StorageTarget:
    url: str
    display: str
    kind: Literal["sqlite", "postgresql", "other"]


def resolve_storage(workspace: Workspace, storage: str | None) -> StorageTarget:
    """None: SQLite in the workspace. sqlite:///path stays inside the workspace. postgresql:// for many workers."""
    if not storage:
        path = workspace.state_dir / EMBEDDED_STORAGE
        path.parent.mkdir(parents=True, exist_ok=True)
        return StorageTarget(f"sqlite:///{path}", f"sqlite:///{workspace.relative(path)}", "sqlite")
    if storage.lower().startswith("sqlite"):
        path = workspace.uri_path(storage)  # confined like every path; relative to the workspace
        if path is None:
            raise ToolError("invalid_input", "An in-memory SQLite study would vanish with the call.",
                            "Omit storage for .mlops/optuna.db, or give sqlite:///<path in the workspace>.")
        path.parent.mkdir(parents=True, exist_ok=True)
        return StorageTarget(workspace.resolve_uri(storage), f"sqlite:///{workspace.relative(path)}", "sqlite")
    if storage.startswith(("postgresql://", "postgres://", "postgresql+")):
        return StorageTarget(_postgres_driver(storage), redact_text(storage), "postgresql")
    if storage.startswith(("mysql", "mariadb")):
        return StorageTarget(storage, redact_text(storage), "other")
    raise ToolError("invalid_input", f"Unsupported study storage '{redact_text(storage)}'.",
                    "Omit storage for SQLite in the workspace, or pass postgresql://user:pass@host:5432/db for many workers.")


def _postgres_driver(url: str) -> str:
    """SQLAlchemy's default PostgreSQL driver is psycopg2; fall back to psycopg 3 when only it is installed."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if not url.startswith("postgresql://"):
        return url  # the user chose a driver
    import importlib.util

    if importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    raise ToolError("missing_dependency", "A PostgreSQL study storage needs a driver (psycopg2 or psycopg).", "pip install psycopg2-binary")


def open_storage(target: StorageTarget) -> RDBStorage:
    from mlops_engineer.locks import store_init_lock

    optuna = import_optional("optuna", "tuning")
    for attempt in range(3):
        try:
            # A fresh storage creates its tables on open. On SQLite, concurrent first calls take
            # turns; workers of a server database (other machines) retry when another one won.
            with store_init_lock(target.url), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat is flagged experimental
                # The heartbeat lets a worker that died mid-trial be noticed: its trial is failed
                # after the grace period instead of holding a slot of the budget forever.
                return optuna.storages.RDBStorage(
                    target.url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                )
        except Exception as exc:
            if attempt < 2 and _created_concurrently(exc):
                time.sleep(0.5 + attempt)
                continue
            raise ToolError("backend_unreachable", f"Cannot open the study storage {target.display}: {redact_text(str(exc))[:300]}",
                            "Check that the database server runs and the URL (host, port, user, database) is right.") from exc
    raise AssertionError("unreachable")


def _created_concurrently(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("already exists", "duplicate key", "unique constraint", "uniqueviolation"))


def close_storage(storage: Any) -> None:
    with contextlib.suppress(Exception):
        storage.remove_session()
    with contextlib.suppress(Exception):
        storage.engine.dispose()


def make_sampler(name: SamplerName, seed: int | None, multi: bool) -> Any:
    optuna = import_optional("optuna", "tuning")
    if name == "cmaes":
        if multi:
            raise ToolError("invalid_input", "CMA-ES optimises a single objective.", "Use sampler nsga2 (or tpe) for several metrics.")
        import_optional("cmaes", "tuning")
        return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True) if not multi \
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)


def make_pruner(name: PrunerName, max_steps: int, multi: bool) -> Any:
    optuna = import_optional("optuna", "tuning")
    if name != "none" and multi:
        raise ToolError("invalid_input", "Optuna cannot prune a multi-objective study.", "Set pruner to none when there are several metrics.")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_steps, 2), reduction_factor=2)
    return optuna.pruners.NopPruner()


def open_study(storage: Any, name: str, directions: list[str], sampler: Any, pruner: Any) -> tuple[Study, bool]:
    """Create the study or load it; an existing study must optimise the same directions."""
    optuna = import_optional("optuna", "tuning")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO lines ("A new study created") are noise here
    existed = name in {s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)}
    study = optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner, load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    if have != list(directions):
        raise ToolError("conflict", f"The study '{name}' exists with directions {have}, not {list(directions)}.",
                        "Use another study_name, or the same metrics and directions as before.")
    return study, not existed


def load_study(storage: Any, name: str) -> Study:
    optuna = import_optional("optuna", "tuning")
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError as exc:
        raise ToolError("not_found", f"No study named '{name}' in this storage.", "Run action optimize first, or check study_name and storage.") from exc


def finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class TrialCounts:
    finished: int  # complete or pruned
    running: int
    running_before: int  # running trials numbered below the one asking


# One row, whatever the study's size: the budget check is O(1) work for this process (the
# database counts the study's index entries). Optuna stores TrialState by name.
_COUNTS_SQL = """
SELECT COALESCE(SUM(CASE WHEN state IN ('COMPLETE', 'PRUNED') THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN state = 'RUNNING' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN state = 'RUNNING' AND number < :number THEN 1 ELSE 0 END), 0)
FROM trials WHERE study_id = :study_id
"""


def trial_counts(storage: RDBStorage, study_id: int, number: int = -1) -> TrialCounts:
    """Finished and running trials of a study, read in one query (Optuna's API would list them all)."""
    from sqlalchemy import text

    with storage.engine.connect() as connection:
        row = connection.execute(text(_COUNTS_SQL), {"study_id": study_id, "number": number}).one()
    return TrialCounts(int(row[0]), int(row[1]), int(row[2]))


@dataclass
class RunStats:
    new_trials: int = 0
    failures: int = 0
    last_error: str | None = None
    cancelled: bool = False
    timed_out: bool = False
    others_running: bool = False
    logged: dict[int, str] = field(default_factory=dict)
    recovered: list[str] = field(default_factory=list)


def reclaim_stale_trials(study: Study) -> list[str]:
    """Fail the RUNNING trials nobody runs any more, so they stop holding slots of the budget.

    A trial records its owner (host, pid, start time) when it starts: one whose process on this
    host is gone (kill -9, a crash) is failed at once. Trials of other hosts are failed by
    Optuna's heartbeat once it is older than the grace period (GRACE_S).
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from mlops_engineer.locks import owner_alive

    storage = study._storage
    # Optuna's cached storage lists every trial of the study and filters in Python; its database
    # backend filters in SQL, so this costs O(running trials), not O(study).
    backend = getattr(storage, "_backend", storage)
    study_id = study._study_id

    def running_trials() -> list[Any]:
        return backend.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))

    running = running_trials()
    if not running:
        return []
    failed: list[tuple[int, str]] = []
    for trial in running:
        record = trial.user_attrs.get(OWNER)
        if not isinstance(record, str) or owner_alive(record) is not False:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "mlops_engineer.recovery", f"owner {record} died; failed")
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append((trial.number, f"its process {record} died"))
        except UpdateFinishedTrialError:
            pass  # it finished, or another call failed it, meanwhile
    before = {t.number for t in running} - {n for n, _ in failed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fail_stale_trials is flagged experimental
        optuna.storages.fail_stale_trials(study)
    gone = before - {t.number for t in running_trials()}
    if gone:
        fails = {t.number for t in backend.get_all_trials(study_id, deepcopy=False, states=(TrialState.FAIL,))}
        failed += [(n, f"no heartbeat for over {GRACE_S} s") for n in sorted(gone & fails)]
    return [f"trial {n} was left RUNNING ({why}); marked FAIL, its slot runs again" for n, why in failed]


class _OverBudget(Exception):
    pass


class _QuietExpectedEnds(logging.Filter):
    """Drops Optuna's two warning lines (one with a traceback) for a trial that ended as we meant it to.

    Optuna logs every trial whose objective raised. A trial that found the budget spent (another
    worker took the last slot) or was cancelled is not a failure, and the tool's output reports
    both; on stderr they read like crashes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._follow_ups: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, (_OverBudget, Cancelled)):
            # "Trial 7 failed with parameters: ..." is followed by "Trial 7 failed with value None."
            self._follow_ups.add(" ".join(message.split()[:2]) + " failed with value")
            return False
        for prefix in self._follow_ups:
            if message.startswith(prefix):
                self._follow_ups.discard(prefix)
                return False
        return True


def _quiet_expected_trial_ends() -> None:
    logger = logging.getLogger("optuna.study._optimize")  # where Optuna logs a failed trial
    if not any(isinstance(f, _QuietExpectedEnds) for f in logger.filters):
        logger.addFilter(_QuietExpectedEnds())


def optimize(
    storage: RDBStorage,
    study: Study,
    objective: Objective,
    space: list[Any],
    n_trials: int,
    *,
    timeout_s: float | None,
    cancelled: Callable[[], bool],
    progress: Callable[[int, int, str], None],
    log_trial: Callable[[TrialRecord], str | None] | None,
) -> RunStats:
    """Run trials until the study holds `n_trials` finished ones (or cancel, timeout, repeated failure)."""
    import optuna
    from optuna.trial import TrialState

    from mlops_engineer.locks import owner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_expected_trial_ends()
    multi = len(objective.directions) > 1
    stats = RunStats()
    started = time.monotonic()
    consecutive_failures = 0
    study_id = storage.get_study_id_from_name(study.study_name)
    best = _Best.of(study)
    aborted: list[UserCodeExit] = []

    def wrapped(trial: optuna.Trial) -> Any:
        # Who runs it: if this process dies, the next call sees it and fails the trial.
        trial.set_user_attr(OWNER, owner())
        # Exact budget: finished trials plus running trials numbered before this one.
        counts = trial_counts(storage, study_id, trial.number)
        if counts.finished + counts.running_before >= n_trials:
            trial.set_user_attr(OVER_BUDGET, True)
            raise _OverBudget()
        params = suggest(trial, space)
        intermediate: dict[int, float] = {}

        def report(value: float, step: int) -> None:
            intermediate[step] = value
            if multi:
                return
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

        begin = time.monotonic()

        def record(state: str, values: list[float] | None, error: str | None = None) -> None:
            if log_trial is None:
                return
            run_id = log_trial(TrialRecord(trial.number, state, params, values, objective.metric_names, intermediate, time.monotonic() - begin, error))
            if run_id:
                trial.set_user_attr(MLFLOW_RUN, run_id)
                stats.logged[trial.number] = run_id

        try:
            values = objective(params, report, cancelled)
        except optuna.TrialPruned:
            record("PRUNED", None)
            raise
        except Cancelled:
            raise
        except UserCodeExit as exc:  # sys.exit() in the objective: stop the study, fail the call
            record("FAIL", None, exc.message)
            aborted.append(exc)
            study.stop()
            raise
        except Exception as exc:
            record("FAIL", None, f"{type(exc).__name__}: {exc}")
            raise
        record("COMPLETE", values)
        return values if multi else values[0]

    def timed_out() -> bool:
        return timeout_s is not None and time.monotonic() - started >= timeout_s

    def after_trial(s: Study, trial: Any) -> None:
        """Per finished trial: progress, and study.stop() on budget, cancel, timeout or repeated failure."""
        nonlocal consecutive_failures
        if trial.user_attrs.get(OVER_BUDGET):
            s.stop()  # another worker took the last slot
            return
        finished = trial_counts(storage, study_id).finished
        if trial.state == TrialState.FAIL:
            if not cancelled():
                stats.failures += 1
                consecutive_failures += 1
                stats.last_error = redact_text(str(trial.system_attrs.get("fail_reason", "the objective raised an exception")))[:500]
        else:
            consecutive_failures = 0
            stats.new_trials += 1
            best.update(trial, s)
            progress(finished, n_trials, _describe(trial, objective.metric_names, best))
        if cancelled() or timed_out() or consecutive_failures >= MAX_CONSECUTIVE_FAILURES or finished >= n_trials:
            s.stop()

    stats.recovered += reclaim_stale_trials(study)
    waiting_since: tuple[int, float] | None = None  # (finished count, when the wait began)
    while True:
        counts = trial_counts(storage, study_id)
        done = counts.finished
        if done >= n_trials or consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            break
        if cancelled():
            stats.cancelled = True
            break
        if timed_out():
            stats.timed_out = True
            break
        if done + counts.running >= n_trials:
            # Other workers hold the last slots: wait until they finish, fail, or die (then
            # reclaim the slot), but never longer than WAIT_FOR_OTHERS_S without a finished trial.
            if waiting_since is None or waiting_since[0] != done:
                waiting_since = (done, time.monotonic())
            elif time.monotonic() - waiting_since[1] >= WAIT_FOR_OTHERS_S:
                stats.others_running = True
                break
            time.sleep(0.5)
            stats.recovered += reclaim_stale_trials(study)
            continue
        waiting_since = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.optimize(wrapped, catch=(Exception,), callbacks=[after_trial])
        if aborted:
            raise aborted[0]
    return stats


@dataclass
class _Best:
    """The best value for progress messages: the study's at the start, then this worker's trials
    (asking the storage after every trial costs two queries; another worker's better trial shows
    in the final answer, which reads the study)."""

    value: float | None = None
    number: int | None = None
    maximize: bool = False

    @classmethod
    def of(cls, study: Study) -> _Best:
        if len(study.directions) != 1:
            return cls()
        best = cls(maximize=study.direction.name == "MAXIMIZE")
        with contextlib.suppress(ValueError):
            best.value, best.number = study.best_value, study.best_trial.number
        return best

    def update(self, trial: Any, study: Study) -> None:
        if len(study.directions) != 1 or not trial.values:
            return
        value = trial.values[0]
        if self.value is None or (value > self.value if self.maximize else value < self.value):
            self.value, self.number = value, trial.number


def _describe(trial: Any, names: list[str], best: _Best) -> str:
    state = trial.state.name
    if trial.values:
        shown = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, trial.values, strict=False))
        text = f"trial {trial.number} {state.lower()}: {shown}"
    else:
        text = f"trial {trial.number} {state.lower()}"
    if best.value is not None:
        text += f" (best {best.value:.4g} in trial {best.number})"
    return text


def plots(study: Study, metric_names: list[str]) -> dict[str, bytes]:
    """PNG bytes of the optimisation history and the parameter importances (when there is enough data)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    multi = len(study.directions) > 1
    target = (lambda t: t.values[0]) if multi else None
    name = metric_names[0] if metric_names else "value"
    out: dict[str, bytes] = {}
    complete = [t for t in study.get_trials(deepcopy=False, states=finished_states()[:1])]
    makers: list[tuple[str, Callable[[], Any]]] = [
        ("optimization_history", lambda: ovm.plot_optimization_history(study, target=target, target_name=name)),
    ]
    if len(complete) >= 2 and any(len({str(t.params.get(p)) for t in complete}) > 1 for p in complete[-1].params):
        makers.append(("param_importances", lambda: ovm.plot_param_importances(study, target=target, target_name=name)))
    for label, make in makers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = make()
            except (ValueError, RuntimeError):
                continue  # e.g. importances with a single distinct value: no plot rather than a failed call
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        plt.close(figure)
        out[label] = buffer.getvalue()
    return out


@contextlib.contextmanager
def storage_session(target: StorageTarget) -> Iterator[Any]:
    storage = open_storage(target)
    try:
        yield storage
    finally:
        close_storage(storage)


def study_dir(workspace: Workspace, study_name: str) -> Path:
    """Where a study's plots, best model and Ray logs go: .mlops/tuning/<study>/."""
    return workspace.resolve(f".mlops/tuning/{safe_name(study_name)}")


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"

"""agreement: how far annotators agree, overall, per label and per pair, and where they don't."""

from __future__ import annotations

from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._label_training_data.models import Agreement, AgreementInfo, IntervalOut, LabelInput, LabelOutput
from mlops_engineer.tools._label_training_data.source import check_one_source, load_source


def _interval(i: Any) -> IntervalOut:
    return IntervalOut(estimate=i.estimate, low=i.low, high=i.high)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def presence_rows(ratings: list[Any], spec: Any, op: Agreement) -> list[dict[str, Any]]:
    """Per label, for answers that hold several labels (multi-label, spans, boxes): the nominal
    alpha of "this label is present" between annotators."""
    import numpy as np

    from mlops_engineer.engines.labeling import agreement as ag
    from mlops_engineer.engines.labeling.config import labels_in

    rng = np.random.default_rng(op.seed)
    labels = sorted({label for r in ratings for label in labels_in(r.value, spec)} | set(spec.labels))
    rows = []
    for label in labels:
        present = [ag.Rating(r.item, r.annotator, label in labels_in(r.value, spec)) for r in ratings]
        table = ag.rating_table(present)
        if len(table.values) < 2:
            a = ag.Interval(1.0 if table.values == [True] else None)
        else:
            a = ag.bootstrap_alpha(table.counts, table.values, "nominal", op.bootstrap, op.confidence, rng)
        count = sum(1 for r in present if r.value)
        rows.append({"label": label, "count": count, "alpha": _r(a.estimate), "alpha_low": _r(a.low), "alpha_high": _r(a.high), "fleiss_kappa": None})
    return rows


def run_agreement(op: Agreement, inp: LabelInput, ctx: ToolContext, out: LabelOutput) -> LabelOutput:
    from mlops_engineer.engines.labeling import agreement as ag
    from mlops_engineer.engines.labeling.tasks import ratings_of
    from mlops_engineer.output import preview_table

    check_one_source(op)
    out.planned_calls = [f"read {'project ' + repr(op.project) if op.project is not None else op.export_file}",
                         f"agreement with {op.bootstrap} bootstrap replicates (seed {op.seed})"]
    if inp.dry_run:
        return out
    source = load_source(op, inp, ctx)
    out.server = source.server
    ratings = ratings_of(source.tasks, source.spec)
    values = sorted({r.value for r in ratings}, key=str)
    numeric = ag.numeric_levels_allowed(values)
    levels = list(dict.fromkeys(op.levels or (["nominal", "ordinal", "interval", "ratio"] if numeric else ["nominal"])))
    if not numeric and set(levels) - {"nominal"}:
        raise ToolError("invalid_input", f"Levels {sorted(set(levels) - {'nominal'})} need numeric answers (a rating); "
                        f"this question ({source.spec.kind}) has labels, e.g. {values[:3]}.", 'Use levels ["nominal"].')
    if not any(n >= 2 for n in _ratings_per_item(ratings)):
        raise ToolError("invalid_input", f"No task of {source.description} has two or more annotations, so there is no agreement to measure.",
                        "Have at least two annotators label the same tasks (Label Studio: project settings > Quality > overlap).")
    report = ag.agreement_report(ratings, levels, op.bootstrap, op.confidence, op.seed, op.top, progress=ctx.progress)
    name = source.names.get
    pairs = [{"annotator_a": name(str(p.annotator_a), str(p.annotator_a)), "annotator_b": name(str(p.annotator_b), str(p.annotator_b)),
              "items": p.items, "kappa": _r(p.kappa.estimate), "kappa_low": _r(p.kappa.low), "kappa_high": _r(p.kappa.high)}
             for p in report.pairs]
    if source.spec.kind in ("classification", "rating"):
        labels = [{"label": str(lab.label), "count": lab.count, "alpha": _r(lab.alpha.estimate), "alpha_low": _r(lab.alpha.low),
                   "alpha_high": _r(lab.alpha.high), "fleiss_kappa": _r(lab.fleiss_kappa)} for lab in report.labels]
    else:
        labels = presence_rows(ratings, source.spec, op)
    worst = [{"task_id": d.item, "ratings": d.ratings, "distinct": d.distinct, "disagreement": _r(d.disagreement),
              "values": ";".join(f"{k}={v}" for k, v in d.values.items())} for d in report.disagreements]
    key = f"{source.project_id or 'file'}"
    out.agreement = AgreementInfo(
        items=report.items, pairable_items=report.pairable_items, annotators=report.annotators, ratings=report.ratings,
        kind=source.spec.kind, alpha={k: _interval(v) for k, v in report.alpha.items()}, fleiss_kappa=_interval(report.fleiss),
        fleiss_items=report.fleiss_items, fleiss_raters=report.fleiss_raters,
        pairs=preview_table(ctx.workspace, f"agreement-pairs-{key}", pairs),
        labels=preview_table(ctx.workspace, f"agreement-labels-{key}", labels),
        disagreements=preview_table(ctx.workspace, f"agreement-disagreements-{key}", worst),
    )
    return out


def _ratings_per_item(ratings: list[Any]) -> list[int]:
    from collections import Counter

    return list(Counter(r.item for r in ratings).values())

"""Demo step: a versioned Avro schema for the churn training set, evolved once compatibly
(a new field with a default, registered as v2) and once incompatibly (a retyped field, refused
with the reason). Reads the training CSV that `champion` wrote; needs no other step."""

from __future__ import annotations

import json

from mlops_engineer.demos import DemoSession
from mlops_engineer.errors import ToolError

TOOL = "design_serialization_schema"
SUBJECT = "churn-train"


def run(session: DemoSession) -> None:
    call, say = session.call, session.say
    train = session.facts.get("train_csv", "data/churn_train.csv")
    inferred = call(TOOL, {"action": "infer", "path": train, "format": "avro", "name": "ChurnTrain", "namespace": "churn.v1"})
    summary = ", ".join(f"{c.name}:{c.type}{'?' if c.nullable else ''}" for c in inferred.columns)
    say(f"schemas: inferred from {train} ({inferred.rows} rows): {summary}")

    v1 = call(TOOL, {"action": "register", "subject": SUBJECT, "definition": inferred.definition, "mode": "FULL"})
    say(f"schemas: {SUBJECT} v{v1.version} {'registered' if v1.created else 'already registered'} (mode FULL) -> {v1.file}")

    # Evolve v1 (not the latest): a second demo run proposes the same v2 and registers nothing new.
    evolved = call(TOOL, {"action": "evolve", "subject": SUBJECT, "base_version": v1.version,
                          "change": {"kind": "add_field", "field": "region", "type": "string", "default": "unknown"}})
    asked = "; ".join(f"{v.path} {v.kind}" for v in evolved.intended or []) or "nothing"
    say(f"schemas: adding 'region' as a plain string would break {asked}; proposal: {evolved.proposal.label}")
    v2 = call(TOOL, {"action": "register", "subject": SUBJECT, "definition": evolved.proposal.definition})
    say(f"schemas: {SUBJECT} v{v2.version} {'registered' if v2.created else 'already registered'} -> {v2.file}")

    retyped = json.loads(evolved.proposal.definition)
    for field in retyped["fields"]:
        if field["name"] == "tenure_months":
            field["type"] = "string"
    try:
        call(TOOL, {"action": "register", "subject": SUBJECT, "definition": retyped})
    except ToolError as refused:
        say(f"schemas: tenure_months as a string was refused ({refused.code}): {refused.message}")
    else:
        raise ToolError("failed", "The demo's incompatible schema was registered.", "Check schemas/churn-train/subject.json's mode.")
    session.facts.update(schema_subject=SUBJECT, schema_version=v2.version, schema_file=v2.file)
    session.where("schemas (Avro, versioned)", session.root / "schemas" / SUBJECT)

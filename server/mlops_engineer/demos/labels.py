"""Demo step: label quality. With LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY set, a small
sample goes through the live server (project, tasks, one annotator's labels, the next batch);
in every case the agreement and a Dawid-Skene training set come from a bundled export of
40 reviews labelled by three annotators, one of them careless.
"""

from __future__ import annotations

import json
import os

from mlops_engineer.bundle import bundle_path
from mlops_engineer.demos import DemoSession

EXPORT = "labels/sample_export.json"
OUTPUT = "data/review_labels.csv"
PROJECT = "mlops-demo-review-sentiment"
SAMPLE = 10
SPEC = {"kind": "classification", "labels": ["positive", "negative", "neutral"], "name": "sentiment"}


def _live(session: DemoSession, tasks: list[dict]) -> None:
    from label_studio_sdk import LabelStudio

    call, say = session.call, session.say
    project = call("label_training_data", {"action": "create_project", "title": PROJECT, "spec": SPEC}).project
    rows = "".join(json.dumps({"review_id": t["id"], "text": t["data"]["text"]}) + "\n" for t in tasks)
    session.workspace.write_text("labels/reviews.jsonl", rows)
    imported = call("label_training_data", {"action": "import_tasks", "project": project.id, "path": "labels/reviews.jsonl",
                                            "id_column": "review_id"}).imported
    say(f"Label Studio project {project.id}: {imported.imported} task(s) imported, {imported.skipped_existing} already there")
    client = LabelStudio(base_url=os.environ["LABEL_STUDIO_URL"], api_key=os.environ["LABEL_STUDIO_API_KEY"])
    by_text = {t["data"]["text"]: t for t in tasks}
    live_tasks = list(client.tasks.list(project=project.id, fields="all"))
    # Ten tasks get annotator 1's bundled labels, once: a rerun finds them and adds nothing.
    todo = max(0, SAMPLE - sum(1 for t in live_tasks if t.annotations))
    labelled = 0
    for task in live_tasks:
        if labelled >= todo:
            break
        if task.annotations or task.data.get("text") not in by_text:
            continue
        client.annotations.create(id=task.id, result=by_text[task.data["text"]]["annotations"][0]["result"])
        labelled += 1
    batch = call("label_training_data", {"action": "next_batch", "project": project.id, "size": 5}).batch
    say(f"labelled {labelled} sample task(s) now; next to label: tasks {[r['task_id'] for r in batch.rows]}")


def run(session: DemoSession) -> None:
    call, say = session.call, session.say
    text = (bundle_path("templates") / "labeling" / "sample_export.json").read_text()
    session.workspace.write_text(EXPORT, text)
    tasks = json.loads(text)
    say("\nLabel quality: 40 reviews, three annotators")
    if os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"):
        _live(session, tasks)
    else:
        say("(no LABEL_STUDIO_URL: computing on the bundled export only)")
    report = call("label_training_data", {"action": "agreement", "export_file": EXPORT, "bootstrap": 500}).agreement
    alpha = report.alpha["nominal"]
    say(f"Krippendorff's alpha {alpha.estimate:.3f} (95% CI {alpha.low:.3f} to {alpha.high:.3f}), "
        f"Fleiss' kappa {report.fleiss_kappa.estimate:.3f} on {report.fleiss_items} items")
    for pair in report.pairs.rows:
        say(f"  Cohen's kappa annotators {pair['annotator_a']}-{pair['annotator_b']}: {pair['kappa']:.3f} on {pair['items']} items")
    exported = call("label_training_data", {"action": "export", "export_file": EXPORT, "output": OUTPUT, "resolve": "dawid_skene"}).export
    accuracy = ", ".join(f"{k}: {v:.2f}" for k, v in exported.annotator_accuracy.items())
    say(f"training labels by Dawid-Skene: {exported.rows} rows in {exported.path}; estimated annotator accuracy {accuracy}")
    session.where("training labels", session.root / OUTPUT)
    session.where("label provenance", session.root / exported.provenance_path)

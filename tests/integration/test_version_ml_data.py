"""version_ml_data against the real DVC in temporary git repositories, with a real local
remote and a real S3 remote (SeaweedFS)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_engineer.errors import ToolError
from mlops_engineer.tools.version_ml_data import TOOL
from tests.helpers import ToolRunner


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _error(call) -> ToolError:  # noqa: ANN001
    with pytest.raises(ToolError) as error:
        call()
    return error.value


class Dvc:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runner = ToolRunner(root)

    def __call__(self, action: str, dry_run: bool = False, confirm: bool = False, **fields: object):  # noqa: ANN204
        return self.runner(TOOL, {"action": action, **fields}, dry_run=dry_run, confirm=confirm)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path


@pytest.fixture
def dvc(tmp_path: Path) -> Dvc:
    """An initialised project: git + DVC + the default local remote."""
    tool = Dvc(tmp_path / "project")
    tool.root.mkdir()
    tool("init", confirm=True)
    return tool


def test_init_needs_confirm_for_git_and_is_idempotent(tmp_path: Path) -> None:
    tool = Dvc(tmp_path)
    plan = tool("init", dry_run=True)
    assert plan.planned_calls[:2] == ["git init", "dvc init"]
    refused = _error(lambda: tool("init"))
    assert refused.code == "needs_confirm"
    assert not (tmp_path / ".git").exists() and not (tmp_path / ".dvc").exists()

    first = tool("init", confirm=True)
    assert first.git_initialised and first.dvc_initialised
    assert first.remote.name == "local" and first.remote.default and first.remote.changed
    assert "url = ../.mlops/dvc-remote" in (tmp_path / ".dvc/config").read_text()
    assert _git(tmp_path, "check-ignore", ".mlops/dvc-remote").strip() == ".mlops/dvc-remote"
    # DVC's per-project index stays inside the workspace instead of /var/tmp/dvc.
    assert (tmp_path / ".dvc/tmp/site-cache").is_dir()

    again = tool("init")
    assert not again.git_initialised and not again.dvc_initialised and not again.remote.changed
    assert [r.name for r in again.remotes] == ["local"]


def test_init_inside_a_bigger_git_repository_uses_a_subdir(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    tool = Dvc(tmp_path / "ml")
    tool.root.mkdir()
    out = tool("init")  # no confirm needed: git is there already
    assert out.dvc_initialised and not out.git_initialised
    assert (tool.root / ".dvc").is_dir() and not (tmp_path / ".dvc").exists()


def test_init_in_a_folder_the_enclosing_repository_ignores(tmp_path: Path) -> None:
    """The README's `uv run ... demo` in a clone: the repository's .gitignore ignores mlops-demo/."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(".venv/\nmlops-demo/\n")
    tool = Dvc(tmp_path / "mlops-demo")
    tool.root.mkdir()
    for dry_run in (True, False):
        refused = _error(lambda dry_run=dry_run: tool("init", dry_run=dry_run))
        assert refused.code == "conflict"
        assert "rule 'mlops-demo/' in .gitignore, line 2" in refused.message
        assert "own_repository=true" in refused.hint and "check-ignore -v mlops-demo/.dvc" in refused.hint
    assert sorted(p.name for p in tool.root.iterdir()) == [], "nothing half-written"

    plan = tool("init", dry_run=True, own_repository=True)
    assert plan.planned_calls[:2] == ["git init", "dvc init"]
    assert _error(lambda: tool("init", own_repository=True)).code == "needs_confirm"
    out = tool("init", confirm=True, own_repository=True)
    assert out.git_initialised and out.dvc_initialised
    assert _git(tool.root, "rev-parse", "--show-toplevel").strip() == str(tool.root)
    tool.write("data/a.csv", "a\n1\n")
    assert tool("track", paths=["data/a.csv"], git_commit="data").git_commit
    assert _git(tmp_path, "status", "--porcelain") == "?? .gitignore\n", "the enclosing repository sees nothing new"
    again = tool("init", own_repository=True)  # its own repository now: nothing to confirm, nothing to do
    assert not again.git_initialised and not again.dvc_initialised


def test_add_push_delete_cache_pull_gives_the_same_checksums(dvc: Dvc) -> None:
    csv = dvc.write("data/train.csv", "a,b\n" + "".join(f"{i},{i * i}\n" for i in range(500)))
    dvc.write("data/images/one.bin", "1" * 1000)
    dvc.write("data/images/two.bin", "2" * 2000)
    before = {p: _md5(dvc.root / p) for p in ("data/train.csv", "data/images/one.bin", "data/images/two.bin")}

    tracked = dvc("track", paths=["data/train.csv", "data/images"], git_commit="Track data")
    assert [(t.path, t.dvc_file) for t in tracked.tracked] == [("data/train.csv", "data/train.csv.dvc"), ("data/images", "data/images.dvc")]
    assert tracked.tracked[0].md5 == before["data/train.csv"] and tracked.tracked[1].files == 2
    assert tracked.git_commit and "data/train.csv.dvc" in _git(dvc.root, "show", "--name-only", "HEAD")
    assert "/train.csv" in (dvc.root / "data/.gitignore").read_text()
    again = dvc("track", paths=["data/train.csv", "data/images"], git_commit="Track data")
    assert again.git_commit is None  # nothing changed, no empty commit

    pending = dvc("status").status
    assert not pending.clean and sorted(pending.not_in_remote) == ["data/images/", "data/train.csv"]
    assert dvc("push").transferred == 4  # two files, the folder manifest's two entries plus the .dir object
    assert dvc("push").transferred == 0
    assert dvc("status").status.clean

    shutil.rmtree(dvc.root / ".dvc/cache")
    csv.unlink()
    shutil.rmtree(dvc.root / "data/images")
    missing = dvc("status", check_remote=False).status
    assert "data/train.csv" in missing.changed.get("deleted", []) or "data/train.csv" in missing.not_in_cache
    pulled = dvc("pull")
    assert pulled.transferred and pulled.transferred > 0
    assert {p: _md5(dvc.root / p) for p in before} == before
    assert dvc("status").status.clean

    csv.write_text("a,b\n1,2\n")
    changed = dvc("status").status
    assert changed.changed == {"modified": ["data/train.csv"]}
    assert _error(lambda: dvc("pull")).code == "needs_confirm"  # the edit is not silently lost
    assert csv.read_text() == "a,b\n1,2\n"
    assert "data/train.csv" in dvc("pull", confirm=True).restored
    assert _md5(csv) == before["data/train.csv"]


def test_checkout_a_previous_revision_and_back(dvc: Dvc) -> None:
    path = dvc.write("data/labels.csv", "id,label\n1,cat\n")
    dvc("track", paths=["data/labels.csv"], git_commit="labels v1")
    v1 = _md5(path)
    path.write_text("id,label\n1,dog\n2,cat\n")
    dvc("track", paths=["data/labels.csv"], git_commit="labels v2")
    v2 = _md5(path)
    dvc("push")

    plan = dvc("checkout", rev="HEAD~1", dry_run=True)
    assert plan.restored == ["data/labels.csv.dvc"] and _md5(path) == v2
    out = dvc("checkout", rev="HEAD~1", targets=["data/labels.csv"])
    assert _md5(path) == v1 and "data/labels.csv" in out.restored
    assert out.rev == _git(dvc.root, "rev-parse", "HEAD~1").strip()

    # Unrecorded edits are not overwritten without confirm.
    path.write_text("edited by hand\n")
    assert _error(lambda: dvc("checkout", rev="HEAD")).code == "needs_confirm"
    assert path.read_text() == "edited by hand\n"

    # Back to HEAD with an empty cache: the data comes from the remote.
    shutil.rmtree(dvc.root / ".dvc/cache")
    dvc("checkout", rev="HEAD", confirm=True)
    assert _md5(path) == v2
    assert _error(lambda: dvc("checkout", rev="no-such-branch")).code == "not_found"


def test_checkout_of_data_nobody_pushed_changes_nothing(dvc: Dvc) -> None:
    path = dvc.write("data/x.csv", "v1\n")
    dvc("track", paths=["data/x.csv"], git_commit="v1")
    path.write_text("v2\n")
    dvc("track", paths=["data/x.csv"], git_commit="v2")
    shutil.rmtree(dvc.root / ".dvc/cache")  # v1 was never pushed
    pointer = (dvc.root / "data/x.csv.dvc").read_text()
    assert _error(lambda: dvc("checkout", rev="HEAD~1")).code == "not_found"
    assert (dvc.root / "data/x.csv.dvc").read_text() == pointer and path.read_text() == "v2\n"


PIPELINE = [
    {"name": "evaluate", "cmd": "python evaluate.py", "deps": ["evaluate.py"], "upstream": ["prepare"],
     "params": ["evaluate.threshold"], "metrics": ["metrics.json"], "plots": [{"path": "scores.csv", "x": "i", "y": "score"}]},
    {"name": "prepare", "cmd": "python prepare.py", "deps": ["prepare.py", "data/raw.csv"], "params": ["prepare.factor"],
     "outs": ["data/prepared.csv"]},
]
PREPARE = """import yaml
f = yaml.safe_load(open("params.yaml"))["prepare"]["factor"]
print("PREPARE-STDOUT-MARKER")
rows = open("data/raw.csv").read().split()
open("data/prepared.csv", "w").write("\\n".join(str(int(r) * f) for r in rows) + "\\n")
"""
EVALUATE = """import json, yaml
t = yaml.safe_load(open("params.yaml"))["evaluate"]["threshold"]
values = [int(v) for v in open("data/prepared.csv").read().split()]
json.dump({"above": sum(v > t for v in values)}, open("metrics.json", "w"))
open("scores.csv", "w").write("i,score\\n" + "".join(f"{i},{v}\\n" for i, v in enumerate(values)))
"""


def test_pipeline_repro_skips_unchanged_stages_and_diffs_revisions(dvc: Dvc, capfd: pytest.CaptureFixture[str]) -> None:
    dvc.write("prepare.py", PREPARE)
    dvc.write("evaluate.py", EVALUATE)
    dvc.write("data/raw.csv", "1\n2\n3\n4\n")
    dvc("track", paths=["data/raw.csv"])
    params = {"prepare": {"factor": 2}, "evaluate": {"threshold": 4}}

    written = dvc("write_pipeline", stages=PIPELINE, params=params)
    assert written.order == ["prepare", "evaluate"]
    assert [(f.path, f.action) for f in written.files] == [("dvc.yaml", "create"), ("params.yaml", "create")]
    import yaml

    spec = yaml.safe_load((dvc.root / "dvc.yaml").read_text())["stages"]
    assert spec["evaluate"]["deps"] == ["evaluate.py", "data/prepared.csv"]
    assert spec["evaluate"]["metrics"] == [{"metrics.json": {"cache": False}}]
    assert dvc("write_pipeline", stages=PIPELINE, params=params).files[0].action == "unchanged"

    plan = dvc("repro", dry_run=True)
    assert [(s.stage, s.status) for s in plan.stages] == [("prepare", "would_run"), ("evaluate", "would_run")]
    assert not (dvc.root / "dvc.lock").exists()

    first = dvc("repro", git_commit="first run")
    assert [(s.stage, s.status) for s in first.stages] == [("prepare", "ran"), ("evaluate", "ran")]
    assert json.loads((dvc.root / "metrics.json").read_text()) == {"above": 2}
    # The commands' output goes to the log file, never to our stdout (the MCP stream).
    assert "PREPARE-STDOUT-MARKER" in (dvc.root / first.log_path).read_text()
    assert "PREPARE-STDOUT-MARKER" not in capfd.readouterr().out
    assert {"dvc.lock", "metrics.json", "params.yaml"} <= set(_git(dvc.root, "show", "--name-only", "--format=", "HEAD").split())

    second = dvc("repro")
    assert [(s.stage, s.status) for s in second.stages] == [("prepare", "skipped"), ("evaluate", "skipped")]
    assert dvc("status", check_remote=False).status.stages_changed == []

    params["evaluate"]["threshold"] = 2
    dvc("write_pipeline", stages=PIPELINE, params=params)
    assert dvc("status", check_remote=False).status.stages_changed == ["evaluate"]
    assert [s.status for s in dvc("repro", dry_run=True).stages] == ["skipped", "would_run"]
    third = dvc("repro", git_commit="threshold 2")
    assert [(s.stage, s.status) for s in third.stages] == [("prepare", "skipped"), ("evaluate", "ran")]

    diff = dvc("diff", a_rev="HEAD~1", b_rev="HEAD")
    assert diff.metrics_diff.rows == [{"file": "metrics.json", "key": "above", "old": 2, "new": 3, "diff": 1}]
    assert diff.params_diff.rows == [{"file": "params.yaml", "key": "evaluate.threshold", "old": 4, "new": 2, "diff": -2}]
    assert dvc("diff").metrics_diff.total_rows == 0  # HEAD vs the workspace


def test_failing_stage_reports_its_log(dvc: Dvc) -> None:
    dvc("write_pipeline", stages=[{"name": "boom", "cmd": "echo about-to-fail && exit 3", "outs": ["never.txt"]}])
    error = _error(lambda: dvc("repro"))
    assert error.code == "failed" and "boom" in error.message and "about-to-fail" in error.message


def test_gc_lists_with_dry_run_and_deletes_only_with_confirm(dvc: Dvc) -> None:
    path = dvc.write("data/big.csv", "old\n")
    dvc("track", paths=["data/big.csv"])
    old = _md5(path)
    path.write_text("new\n")
    dvc("track", paths=["data/big.csv"])
    cached = dvc.root / ".dvc/cache/files/md5" / old[:2] / old[2:]
    assert cached.exists()

    plan = dvc("gc", dry_run=True)
    assert plan.gc.objects == [old] and plan.gc.count == 1 and not plan.gc.deleted
    refused = _error(lambda: dvc("gc"))
    assert refused.code == "needs_confirm" and old in refused.message and cached.exists()
    done = dvc("gc", confirm=True)
    assert done.gc.deleted and done.gc.objects == [old] and not cached.exists()
    assert dvc("gc", confirm=True).gc.count == 0
    assert path.read_text() == "new\n"


def test_bad_input_is_refused_before_anything_is_written(dvc: Dvc, tmp_path: Path) -> None:
    config = (dvc.root / ".dvc/config").read_text()
    unsupported = _error(lambda: dvc("add_remote", name="web", url="ftp://files.example.com/dvc"))
    assert unsupported.code == "invalid_input" and "ftp://" in unsupported.message
    assert _error(lambda: dvc("add_remote", name="out", url=str(tmp_path / "elsewhere"))).code == "outside_workspace"
    assert _error(lambda: dvc("add_remote", name="s3", url="s3://b/x", options={"secret_access_key": "x"})).code == "invalid_input"
    assert _error(lambda: dvc("add_remote", name="s3", url="s3://b/x", credentials={"password": "x"})).code == "invalid_input"
    assert (dvc.root / ".dvc/config").read_text() == config

    (tmp_path / "outside.csv").write_text("x\n")
    assert _error(lambda: dvc("track", paths=["../outside.csv"])).code == "outside_workspace"
    assert _error(lambda: dvc("track", paths=["data/missing.csv"])).code == "not_found"
    assert not list(dvc.root.rglob("*.csv.dvc"))

    cyclic = [{"name": "a", "cmd": "x", "deps": ["b.out"], "outs": ["a.out"]}, {"name": "b", "cmd": "y", "deps": ["a.out"], "outs": ["b.out"]}]
    error = _error(lambda: dvc("write_pipeline", stages=cyclic))
    assert error.code == "invalid_input" and "cycle" in error.message
    unknown = [{"name": "a", "cmd": "x", "upstream": ["ghost"]}]
    assert "ghost" in _error(lambda: dvc("write_pipeline", stages=unknown)).message
    no_source = [{"name": "a", "cmd": "x", "deps": ["nowhere.csv"]}]
    assert "nowhere.csv" in _error(lambda: dvc("write_pipeline", stages=no_source)).message
    escaping = [{"name": "a", "cmd": "x", "outs": ["../out.csv"]}]
    assert _error(lambda: dvc("write_pipeline", stages=escaping)).code == "outside_workspace"
    assert not (dvc.root / "dvc.yaml").exists() and not (dvc.root / "params.yaml").exists()
    assert _error(lambda: dvc("repro")).code == "not_found"


def test_actions_before_init_say_so(tmp_path: Path) -> None:
    error = _error(lambda: Dvc(tmp_path)("status"))
    assert error.code == "not_found" and "init" in error.hint


@pytest.mark.server
def test_s3_remote_keeps_credentials_out_of_git_and_round_trips(dvc: Dvc, s3_server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)  # only .dvc/config.local may provide them
    prefix = f"s3://dvc/{dvc.root.parent.name}"
    out = dvc("add_remote", name="team", url=prefix, options={"endpointurl": s3_server.endpoint_url, "region": s3_server.region},
              credentials={"access_key_id": s3_server.access_key, "secret_access_key": s3_server.secret_key})
    shown = out.model_dump_json() + TOOL.summarize(out)
    assert s3_server.secret_key not in shown and s3_server.access_key not in shown
    assert out.remote.credentials_set == ["access_key_id", "secret_access_key"] and out.remote.default
    committed = (dvc.root / ".dvc/config").read_text()
    assert s3_server.secret_key not in committed and s3_server.endpoint_url in committed
    assert s3_server.secret_key in (dvc.root / ".dvc/config.local").read_text()
    assert _git(dvc.root, "check-ignore", ".dvc/config.local").strip() == ".dvc/config.local"
    assert not dvc("add_remote", name="team", url=prefix, options={"endpointurl": s3_server.endpoint_url, "region": s3_server.region},
                   credentials={"access_key_id": s3_server.access_key, "secret_access_key": s3_server.secret_key}).remote.changed

    path = dvc.write("data/s3.csv", "".join(f"{i}\n" for i in range(2000)))
    before = _md5(path)
    dvc("track", paths=["data/s3.csv"], git_commit="s3 data")
    assert dvc("push").transferred == 1
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket="dvc", Prefix=dvc.root.parent.name).get("Contents", [])]
    assert keys == [f"{dvc.root.parent.name}/files/md5/{before[:2]}/{before[2:]}"]
    assert dvc("status").status.clean

    shutil.rmtree(dvc.root / ".dvc/cache")
    path.unlink()
    assert dvc("pull").transferred == 1
    assert _md5(path) == before

    # A wrong secret is refused by the server, and the error does not echo it.
    dvc("add_remote", name="wrong", url=prefix, default=False, options={"endpointurl": s3_server.endpoint_url},
        credentials={"access_key_id": s3_server.access_key, "secret_access_key": "not-the-secret-123"})
    dvc.write("data/more.csv", "more\n")
    dvc("track", paths=["data/more.csv"])
    error = _error(lambda: dvc("push", remote="wrong"))
    assert error.code in ("backend_unreachable", "failed") and "not-the-secret-123" not in str(error)


def test_demo_step_versions_the_churn_csvs_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_engineer.demo import open_session
    from mlops_engineer.demos import data_versioning

    for name in ("train", "test"):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / f"data/churn_{name}.csv").write_text(f"tenure,churned\n{len(name)},1\n")
    facts = {"train_csv": "data/churn_train.csv", "test_csv": "data/churn_test.csv"}
    session = open_session(tmp_path)
    session.facts.update(facts)
    data_versioning.run(session)
    first = capsys.readouterr().out
    assert "pushed 2 file(s)" in first and "data status: clean" in first
    assert session.facts["dvc_remote"] == ".mlops/dvc-remote"
    assert set(session.facts["dvc_tracked"]) == {"data/churn_train.csv", "data/churn_test.csv"}
    commits = _git(tmp_path, "rev-list", "--count", "HEAD")

    again = open_session(tmp_path)
    again.facts.update(facts)
    data_versioning.run(again)
    second = capsys.readouterr().out
    assert "already set up" in second and "already has the data" in second and "already committed" in second
    assert _git(tmp_path, "rev-list", "--count", "HEAD") == commits == "1\n"


def test_cancelling_a_repro_stops_between_stages(dvc: Dvc) -> None:
    stages = [{"name": "first", "cmd": "echo 1 > first.txt", "outs": ["first.txt"]},
              {"name": "second", "cmd": "echo 2 > second.txt", "deps": ["first.txt"], "outs": ["second.txt"]}]
    dvc("write_pipeline", stages=stages)

    def cancel_after_first(done: float, total: float | None, message: str | None) -> None:
        if message == "stage first":  # checked again before the next stage starts
            dvc.runner.ctx.cancelled.set()

    dvc.runner.ctx.on_progress = cancel_after_first
    error = _error(lambda: dvc("repro"))
    assert error.code == "cancelled"
    assert (dvc.root / "first.txt").exists() and not (dvc.root / "second.txt").exists()


def test_credentials_inside_remote_values_stay_out_of_git(dvc: Dvc) -> None:
    """`?sig=`, `?token=`, an access key as the URL's user, `endpointurl=http://AK:PW@...`: the
    committed .dvc/config gets each value without its credential, .dvc/config.local the whole value."""
    cases = {
        "sas": ("azure://container/dvc?sv=2022&sig=SIGSECRET123", {}),
        "tok": ("gs://bucket/dvc?token=TOKSECRET456", {}),
        "key": ("s3://AKIAUSERSECRET@bucket/dvc", {}),
        "endpoint": ("s3://bucket/dvc", {"endpointurl": "http://AKENDPOINT:PWENDPOINT@127.0.0.1:9000", "region": "eu"}),
    }
    secrets = ["SIGSECRET123", "TOKSECRET456", "AKIAUSERSECRET", "AKENDPOINT", "PWENDPOINT"]
    for name, (url, options) in cases.items():
        out = dvc("add_remote", name=name, url=url, options=options, default=False)
        shown = out.model_dump_json() + TOOL.summarize(out)
        assert not [s for s in secrets if s in shown], shown
        assert out.remote.changed and out.remote.credentials_set == (["endpointurl"] if options else ["url"])
        again = dvc("add_remote", name=name, url=url, options=options, default=False)
        assert not again.remote.changed
    committed = (dvc.root / ".dvc/config").read_text()
    assert not [s for s in secrets if s in committed], committed
    assert "azure://container/dvc?sv=2022" in committed and "http://127.0.0.1:9000" in committed
    local = (dvc.root / ".dvc/config.local").read_text()
    assert all(s in local for s in secrets)

    from dvc.repo import Repo

    with Repo(str(dvc.root)) as repo:  # DVC itself reads the whole values
        assert repo.config["remote"]["sas"]["url"] == cases["sas"][0]
        assert repo.config["remote"]["endpoint"]["endpointurl"] == cases["endpoint"][1]["endpointurl"]
    # The same remote without the credential: the override in config.local goes away.
    assert dvc("add_remote", name="tok", url="gs://bucket/dvc", default=False).remote.changed
    assert "TOKSECRET456" not in (dvc.root / ".dvc/config.local").read_text()


def test_a_local_remote_configured_outside_the_workspace_is_refused(dvc: Dvc, tmp_path: Path) -> None:
    outside = tmp_path / "outside-remote"
    dvc.write("data/a.csv", "a\n1\n")
    dvc("track", paths=["data/a.csv"], git_commit="a")
    config = dvc.root / ".dvc/config"
    config.write_text(config.read_text().replace("../.mlops/dvc-remote", str(outside)))  # edited by hand
    for action, fields in (("push", {}), ("pull", {}), ("status", {"remote": "local"}), ("status", {"check_remote": True}),
                           ("gc", {"cloud": True}), ("checkout", {"rev": "HEAD"})):
        error = _error(lambda a=action, f=fields: dvc(a, confirm=True, **f))
        assert error.code == "outside_workspace", (action, error)
    assert not outside.exists()

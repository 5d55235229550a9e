"""End to end, in subprocesses as a user runs them: a vendored model and a dirty local model
are trained, recorded (run folder and checkpoint), changed, and refused by `xlm eval`; an
explicit `allow_model_drift=true` runs and is recorded; `xlm runs show/diff` read it all."""

from __future__ import annotations

import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest
import torch

from provenance_helpers import TINY, commit, copy_example, env_for, git, new_repo, runs_of, xlm, xpm
from xlm.records.runs import from_checkpoint, read_folder
from xlm.records.treehash import hash_dir, text_hash

pytestmark = pytest.mark.slow


def lock_of(run: Path) -> dict:
    return tomllib.loads((run / "models.lock").read_text())


def model_table(run: Path, name: str) -> dict:
    (table,) = [t for t in lock_of(run)["model"] if t["name"] == name]
    return table


def checkpoint_record(run: Path):
    """The record in the run's checkpoint, as torch loads it; read without torch, it is the same."""
    from xlm.records.checkpoint import read_record

    path = run / "checkpoints" / "last.ckpt"
    loaded = from_checkpoint(torch.load(path, weights_only=True, map_location="cpu"), "ckpt")
    plain = read_record(path)
    assert (plain.run, plain.models, plain.files, plain.patches) == (loaded.run, loaded.models, loaded.files, loaded.patches)
    return loaded


def test_a_vendored_model_is_recorded_then_an_update_is_refused_until_allowed(tmp_path):
    env = env_for(tmp_path / "home")
    upstream = copy_example(new_repo(tmp_path / "served" / "lab" / "zlm"))
    v1 = commit(upstream, "zlm 1.0.0")
    git(upstream, "tag", "v1.0.0")
    model_py = upstream / "zlm" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# v1.1.0: a comment only, yet other code\n")
    commit(upstream, "zlm 1.1.0", tick=2)
    git(upstream, "tag", "v1.1.0")
    project = tmp_path / "project"
    project.mkdir()
    xpm(project, env, "add", f"{upstream.as_uri()}@v1.0.0")
    locked = tomllib.loads((project / "xlm.lock").read_text())["model"][0]

    # train: the run folder and the checkpoint name the commit and the hash
    xlm(project, env, "train", "experiment=star_easy_zlm", *TINY)
    (run,) = runs_of(project, "train")
    zlm = model_table(run, "zlm")
    assert (zlm["kind"], zlm["commit"], zlm["hash"], zlm["used"]) == ("vendored", v1, locked["hash"], True)
    assert (zlm["source"], zlm["requested"], zlm["resolved"]) == (upstream.as_uri(), "v1.0.0", "refs/tags/v1.0.0")
    assert text_hash((run / "models" / "zlm.files").read_text()) == zlm["hash"]
    # `installed` holds distribution versions: a CUDA wheel from PyPI is `torch 2.14.1`, whose torch.__version__ is `2.14.1+cu130`
    installed = f"torch=={importlib.metadata.version('torch')}"
    assert zlm["requires"] == ["xlm>=0.1,<0.2", "torch>=2.2"] and zlm["installed"] == ["xlm==0.1.0", installed]
    assert lock_of(run)["run"]["torch"] == importlib.metadata.version("torch") and lock_of(run)["run"]["recorded"] is True
    assert {t["name"]: t["kind"] for t in lock_of(run)["model"]} == {"arlm": "core", "mlm": "core", "zlm": "vendored"}
    stored = checkpoint_record(run)
    assert stored.models["zlm"].commit == v1 and stored.models["zlm"].hash == locked["hash"]
    assert stored.models == read_folder(run).models  # the same record, in both places
    shown = xlm(project, env, "runs", "show", str(run)).stdout
    assert re.search(rf"zlm\s+vendored\s+yes\s+{v1[:12]}\s+-\s+{re.escape(zlm['hash'][:24])}", shown), shown

    # the project moves to v1.1.0: eval of the old checkpoint refuses, naming the changed file
    xpm(project, env, "add", f"{upstream.as_uri()}@v1.1.0")
    ckpt = str(run / "checkpoints" / "last.ckpt")
    refused = xlm(project, env, "eval", f"ckpt_path={ckpt}", code=2)
    error, fix = refused.stderr.strip().splitlines()[-2:]
    assert error.startswith(f"error: model 'zlm' is not the code that wrote {ckpt}: changed files: zlm/model.py (recorded "), error
    assert fix == (f"  fix: get that code back with `xpm install --from-run {run}`, or run on the code as it is now "
                   "with allow_model_drift=true (recorded in this run)")
    assert "Traceback" not in refused.stderr and not runs_of(project, "eval")  # refused before it wrote anything: no run folder

    # allowed: it runs, and says so in its own record
    xlm(project, env, "eval", f"ckpt_path={ckpt}", "allow_model_drift=true", *TINY[:1])
    evaluated = [r for r in runs_of(project, "eval") if (r / "eval.json").exists()][-1]
    record = lock_of(evaluated)
    assert record["run"]["allow-model-drift"] is True and record["run"]["checkpoint"] == ckpt
    zlm_now = model_table(evaluated, "zlm")
    assert (zlm_now["drift-from"], zlm_now["drift-files"]) == (locked["hash"], ["zlm/model.py"])
    assert zlm_now["hash"] != locked["hash"] and zlm_now["commit"] != v1

    # runs diff: which model, commit, hash and file differ
    diff = xlm(project, env, "runs", "diff", str(run), str(evaluated), code=1).stdout
    assert re.search(rf"zlm: .*commit {v1} -> {zlm_now['commit']}.*changed files: zlm/model.py", diff), diff
    same = xlm(project, env, "runs", "diff", str(run), ckpt, code=0).stdout
    assert same.strip().endswith("same models, commits, hashes and versions")


def test_a_dirty_local_model_records_head_dirty_and_patch_and_an_edit_is_refused(tmp_path):
    env = env_for(tmp_path / "home")
    project = new_repo(tmp_path / "project")
    copy_example(project / "src" / "zlm")
    (project / ".gitignore").write_text("outputs/\n")
    (project / ".xlm_models").write_text("./src/zlm\n")
    head = commit(project, "project with its model")
    model_py = project / "src" / "zlm" / "zlm" / "model.py"
    model_py.write_text(model_py.read_text() + "\n# an experiment, not committed\n")
    (project / "src" / "zlm" / "zlm" / "notes.bin").write_bytes(b"\x00\x01\xfe\xff" * 64)  # untracked, binary

    xlm(project, env, "train", "experiment=star_easy_zlm", *TINY)
    (run,) = runs_of(project, "train")
    zlm = model_table(run, "zlm")
    assert (zlm["kind"], zlm["source"], zlm["repository"], zlm["subdir"]) == ("path", "./src/zlm", str(project), "src/zlm")
    assert (zlm["commit"], zlm["dirty"], zlm["patch"]) == (head, True, "models/zlm.patch")
    assert zlm["hash"] == hash_dir(project / "src" / "zlm")  # __pycache__ written by the run does not count
    patch = (run / "models" / "zlm.patch").read_bytes()
    assert b"an experiment, not committed" in patch and b"GIT binary patch" in patch
    assert checkpoint_record(run).patches["zlm"] == patch

    # commit + patch give the files the run used back, byte for byte
    restored = tmp_path / "restored"
    git(tmp_path, "clone", "-q", str(project), str(restored))
    git(restored, "checkout", "-q", head)
    git(restored, "apply", str(run / "models" / "zlm.patch"))
    assert hash_dir(restored / "src" / "zlm") == zlm["hash"]

    shown = xlm(project, env, "runs", "show", str(run)).stdout
    assert re.search(rf"zlm\s+path\s+yes\s+{head[:12]}\s+yes\s", shown) and "models/zlm.patch" in shown, shown

    # an edit after training: eval of the checkpoint refuses, naming the file
    model_py.write_text(model_py.read_text() + "# edited after training\n")
    refused = xlm(project, env, "eval", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", code=2)
    assert "error: model 'zlm' is not the code that wrote" in refused.stderr
    assert "changed files: zlm/model.py (recorded" in refused.stderr and "allow_model_drift=true" in refused.stderr
    resumed = xlm(project, env, "train", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", code=2)  # resuming, too
    assert "error: model 'zlm' is not the code that wrote" in resumed.stderr
    assert runs_of(project, "train") == [run]  # no run folder without a record, which would pass for the newest run


def test_recording_can_be_switched_off_and_that_is_recorded(tmp_path):
    env = env_for(tmp_path / "home")
    project = tmp_path / "project"
    project.mkdir()
    xlm(project, env, "train", "experiment=star_easy_arlm", "record_models=false", *TINY, "model.d_model=16", "model.num_layers=1")
    (run,) = runs_of(project, "train")
    assert lock_of(run)["run"]["recorded"] is False and "model" not in lock_of(run)
    assert not (run / "models").exists()
    assert checkpoint_record(run).run.recorded is False
    assert "models: not recorded (the run was started with record_models=false)" in xlm(project, env, "runs", "show", str(run)).stdout
    evaluated = xlm(project, env, "eval", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}")
    assert "records no models (written with record_models=false)" in evaluated.stdout + evaluated.stderr


def test_a_model_xpm_replaces_while_a_job_starts_stops_the_job(tmp_path, monkeypatch):
    """`xpm add` swapped the folder between the job's check and its import: the run trained the
    new code and recorded the old commit."""
    from xlm.errors import UserError
    from xlm.external_models import find_external_models
    from xlm.provenance.recorder import Recording
    from xlm.records.stamps import stamp_path

    env = env_for(tmp_path / "home")
    upstream = copy_example(new_repo(tmp_path / "served" / "lab" / "zlm"))
    v1 = commit(upstream, "zlm 1.0.0")
    git(upstream, "tag", "v1.0.0")
    (upstream / "zlm" / "model.py").write_text((upstream / "zlm" / "model.py").read_text() + "\n# v1.1.0\n")
    v2 = commit(upstream, "zlm 1.1.0", tick=2)
    project = tmp_path / "project"
    project.mkdir()
    xpm(project, env, "add", f"{upstream.as_uri()}@v1.0.0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    recording = Recording(None, find_external_models(project).models, {"zlm"}, project, None, {}, [])
    os.utime(stamp_path(project, "zlm"))  # new stat data, same stamp: no false alarm
    recording.confirm()
    xpm(project, env, "add", f"{upstream.as_uri()}@{v2}")
    with pytest.raises(UserError) as info:
        recording.confirm()
    assert info.value.what == (f"model 'zlm' changed while this job started: xlm_models/zlm now holds commit {v2[:12]}, "
                               f"not the commit {v1[:12]} the job checked and recorded (`xpm` ran meanwhile?)")
    assert info.value.fix == "run the job again once xpm has finished"

"""Mistakes inside a model's configs are two lines naming the file, line and key (issue 9, item 13).

A real project with a real model folder whose experiments carry the mistakes; `xlm train`
runs in a subprocess, as a user runs it. Composition mistakes are found before torch is
imported (fast); the interpolation ones are checked both in-process (`explain` on the real
composed config) and once end to end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from core_helpers import xlm_command, xlm_env

from xlm.cli import main as xlm_main
from xlm.external.registration import CONFIG_DIRS_ENV, ROOTS_ENV

HEAD = """\
# @package _global_
defaults:
  - override /datamodule: star_easy
  - override /model_type: brk
  - override /model: brk
  - override /collator: seq2seq_arlm
"""
EXPERIMENTS = {
    "bad_override": HEAD.replace("/model: brk", "/modl: brk"),
    "bad_select": "# @package _global_\ndefaults:\n  - override /sampler: slow\n",
    "bad_missing": HEAD.replace("/model: brk", "/model: nope"),
    "bad_order": HEAD.replace("override /model: brk", "/model: brk"),
    "bad_twice": "# @package _global_\ndefaults:\n  - /model: brk\n",
    "bad_interp": HEAD + "job_name: bad_interp\npredictor:\n  steps: ${model.max_len}\n",
    "bad_syntax": HEAD + "job_name: bad_syntax\npredictor:\n  max_steps: ${model.max_len\n",
    "bad_resolver": HEAD + "job_name: bad_resolver\npredictor:\n  steps: ${no_such_resolver:6}\n",
    "core_resolver": HEAD + "job_name: core_resolver\npredictor:\n  steps: ${eval:2*3}\n",  # a port's: where it is replaced
    "bad_missing_value": HEAD + "job_name: bad_missing_value\npredictor:\n  steps: ???\n  again: ${predictor.steps}\n",
    # defaults lists Hydra cannot read, or that include their own config: Hydra raised, with a traceback
    "bad_not_list": "# @package _global_\njob_name: x\ndefaults: 5\n",
    "bad_entry": "# @package _global_\ndefaults:\n  - {a: b, c: d}\n",
    "bad_self": "# @package _global_\ndefaults:\n  - _self_\n  - _self_\n",
    "bad_loop": "# @package _global_\ndefaults:\n  - /experiment: bad_loop\n",
    "loop_a": "# @package _global_\n# a goes through b\ndefaults:\n  - /experiment: loop_b\n",
    "loop_b": "# @package _global_\ndefaults:\n  - _self_\n  - loop_b\n",  # its own group's option, written bare
    "no_type": HEAD.replace("  - override /model_type: brk\n", ""),
    # the commonest slip: Hydra put it under `experiment`, and the error named a group that exists
    "no_header": HEAD.replace("# @package _global_\n", ""),
    # without the `/`, Hydra looks for experiment/collator/...: the error named no file and sent to `xlm --help`
    "bad_relative": HEAD.replace("override /collator", "collator"),
    "bad_relative_all": HEAD.replace("override /", ""),
}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project listing the model `brk` (its own package and configs, plus the broken experiments)."""
    for var in ("XLM_MODELS_FILE", "XLM_MODELS_PATH", CONFIG_DIRS_ENV, ROOTS_ENV):
        monkeypatch.delenv(var, raising=False)
    files = {
        "brk/brk/__init__.py": "",
        "brk/brk/model.py": "class Net:\n    pass\n",
        "brk/configs/model/brk.yaml": "# @package _global_\nmodel:\n  _target_: brk.model.Net\n  size: 4\n",
        "brk/configs/model_type/brk.yaml": "# @package _global_\nloss:\n  _target_: brk.model.Net\n",
        "brk/configs/sampler/fast.yaml": "steps: 3\n",
        "brk/configs/sampler/slow.yaml": "steps: 30\n",
        **{f"brk/configs/experiment/{name}.yaml": text for name, text in EXPERIMENTS.items()},
        ".xlm_models": "./brk\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def xlm(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(xlm_command(*args), cwd=project, env={**xlm_env(project), **env},
                          capture_output=True, text=True, timeout=300)


def line_of(project: Path, experiment: str, text: str) -> int:
    lines = (project / "brk" / "configs" / "experiment" / f"{experiment}.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(
    "experiment, what, fix",
    [
        ("bad_override", "`override /modl` names no config group", "did you mean 'model'? the groups are: callbacks,"),
        ("bad_select", "`override /sampler` overrides a group that the defaults list does not select",
         "select it instead: `- /sampler: slow` (without override)"),  # the option the entry names
        ("bad_missing", "unknown model 'nope' in the defaults list", "choose one of: arlm, brk, mlm"),
        ("bad_twice", "`model: brk` selects model a second time (the defaults list already does)",
         "write `- override /model: brk`"),
        ("bad_order", "`model: brk` comes after an `override` entry; overrides must end the defaults list",
         "move it above the override entries, or make it `- override /model: brk`"),
        # found while composing, before any value can be read: the value's text finds the line
        # (the key's name alone matched trainer.max_steps in xlm's config.yaml first)
        ("bad_syntax", "predictor.max_steps is not a valid interpolation: no viable alternative at input '${model.max_len'",
         "write interpolations as ${key.path} or ${resolver:args}"),
        ("bad_not_list", "Invalid defaults list in 'experiment/bad_not_list', defaults must be a list (got int)",
         "a defaults list is a list of `group: option` entries"),
        ("bad_entry", "In experiment/bad_entry: Too many keys in default item {'a': 'b', 'c': 'd'}", "a defaults list is a list"),
        ("bad_self", "Duplicate _self_ defined in experiment/bad_self", "a defaults list is a list of `group: option` entries"),
        ("no_header", "the config has no `# @package _global_` line, so Hydra puts it, and its `override /datamodule`, "
         "under `experiment`", "make `# @package _global_` its first line"),
        ("bad_relative", "`collator: seq2seq_arlm` names experiment/collator/seq2seq_arlm: in a config of group 'experiment', "
         "a group without a leading `/` is one inside 'experiment'", "write `- override /collator: seq2seq_arlm`"),
        ("bad_relative_all", "`collator: seq2seq_arlm` names experiment/collator/seq2seq_arlm: in a config of group 'experiment', "
         "a group without a leading `/` is one inside 'experiment'", "write `- override /collator: seq2seq_arlm`"),
    ],
)
def test_composition_mistakes_in_a_models_config_name_the_file_and_line(project, experiment, what, fix):
    proc = xlm(project, "train", f"experiment={experiment}")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 2, proc.stderr
    culprit = {"bad_override": "/modl", "bad_select": "/sampler", "bad_missing": "nope", "bad_twice": "- /model",
               "bad_order": "- /model", "bad_syntax": "max_steps:", "bad_not_list": "defaults:", "bad_entry": "defaults:",
               "bad_self": "defaults:", "no_header": "defaults:", "bad_relative": "- collator:",
               "bad_relative_all": "- collator:"}[experiment]
    where = f"brk/configs/experiment/{experiment}.yaml:{line_of(project, experiment, culprit)}"
    assert lines[0] == f"error: {where}: {what}"
    assert lines[1].startswith(f"  fix: {fix}")


def test_xlm_cores_metrics_group_is_said_to_be_none_of_xlms(project):
    """A port's `- /metrics@reported_metrics...` entry: the fix sent to `xlm --help`."""
    (project / "brk" / "configs" / "experiment" / "core_metrics.yaml").write_text(
        HEAD.replace("defaults:\n", "defaults:\n  - /metrics@reported_metrics.val.prediction.exact_match: seq2seq_exact_match\n"))
    proc = xlm(project, "train", "experiment=core_metrics")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "  fix: xlm has no `metrics` group: write the metric under reported_metrics in the model_type config "
        "(docs/porting_from_xlm_core.md, section 7)"), proc.stderr


def test_hydra_10s_package_header_is_named_where_it_is(project):
    """Hydra 1.1+ read `_group_` literally: an experiment's error named no group `datamodule@_group_.datamodule`,
    and a model config's said the experiment "selects no model", with a fix it already followed."""
    experiments = project / "brk" / "configs" / "experiment"
    (experiments / "group_header.yaml").write_text(HEAD.replace("# @package _global_\n", "# @package _group_\n"))
    (experiments / "old_model.yaml").write_text(HEAD.replace("/model: brk", "/model: old"))
    (project / "brk" / "configs" / "model" / "old.yaml").write_text("# @package _group_\nmodel:\n  _target_: brk.model.Net\n")
    proc = xlm(project, "train", "experiment=group_header")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2:] == [
        "error: brk/configs/experiment/group_header.yaml:1: the config's `# @package` header is Hydra 1.0's: Hydra 1.1 and "
        "later take `_group_` literally, so its keys, and its `override /datamodule`, land under a key named `_group_`",
        "  fix: write `# @package _global_` as its first line, as in xlm's own experiment configs",
    ], proc.stderr
    proc = xlm(project, "train", "experiment=old_model")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2:] == [
        f"error: {project / 'brk/configs/model/old.yaml'}:1: a config's `# @package` header is Hydra 1.0's: Hydra 1.1 and "
        "later take `_group_` literally, so its keys land under a key named `_group_`, and the job has no model",
        "  fix: write `# @package _global_`, as xlm's own configs do, or the group's path (`# @package model`)",
    ], proc.stderr


@pytest.mark.parametrize("experiment, culprit, loop", [
    ("bad_loop", "bad_loop", "experiment/bad_loop -> experiment/bad_loop"),
    # `experiment=loop_a` on the command line makes loop_a's `/experiment: loop_b` entry loop_a itself
    ("loop_a", "loop_a", "experiment/loop_a -> experiment/loop_a"),
    ("loop_b", "loop_b", "experiment/loop_b -> experiment/loop_b"),
])
def test_a_defaults_list_that_includes_its_own_config_names_the_file_and_line(project, experiment, culprit, loop):
    """It said neither which config nor which entry (Hydra recursed until Python stopped it)."""
    proc = xlm(project, "train", f"experiment={experiment}", "--cfg", "job")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    looping = loop.split(" -> ")[-1]
    where = f"brk/configs/experiment/{culprit}.yaml:{line_of(project, culprit, '- /experiment:' if culprit != 'loop_b' else '- loop_b')}"
    assert proc.stderr.strip().splitlines() == [
        f"error: {where}: the defaults list brings '{looping}' in again, and it comes back without end ({loop})",
        "  fix: remove that entry: a config cannot include itself, directly or through the configs it includes "
        "(and `GROUP=X` on the command line makes every `/GROUP:` entry X)",
    ]


def test_an_experiment_that_selects_no_model_type_is_named(project):
    """It said "the config does not say which model to train", naming neither the experiment nor the group."""
    proc = xlm(project, "train", "experiment=no_type")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: experiment 'no_type' selects no loss: it does not say which model to train",
        "  fix: add - override /model_type: NAME to the defaults list of configs/experiment/no_type.yaml "
        "(or give model_type= on the command line)",
    ]


def test_an_option_that_is_a_yml_file_says_to_rename_it(project):
    (project / "brk" / "configs" / "sampler" / "medium.yml").write_text("steps: 10\n")  # Hydra never reads it
    proc = xlm(project, "train", "experiment=star_easy_arlm", "+sampler=slow", "sampler=medium")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2:] == [
        "error: unknown sampler 'medium' (in `sampler=medium`)",
        f"  fix: rename {project / 'brk' / 'configs' / 'sampler' / 'medium.yml'} to medium.yaml: Hydra reads .yaml files only",
    ]


def test_tracebacks_only_on_request(project):
    for before, after, env in ((["-v"], [], {}), ([], ["-v"], {}), ([], [], {"HYDRA_FULL_ERROR": "1"})):
        proc = xlm(project, *before, "train", "experiment=bad_override", *after, **env)  # -v after the command too
        assert proc.returncode == 2 and "Traceback" in proc.stderr
        assert proc.stderr.strip().splitlines()[-2].startswith("error: brk/configs/experiment/bad_override.yaml:")
    proc = xlm(project, "train", "experiment=bad_override")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "experiment, key, what, fix",
    [
        ("bad_interp", "steps", "predictor.steps: ${model.max_len} refers to 'model.max_len', which the config does not have",
         "correct the key or give the config one"),
        ("bad_resolver", "steps", "predictor.steps: ${no_such_resolver:6} uses the resolver 'no_such_resolver', which is not registered",
         "correct its name"),
        ("core_resolver", "steps", "predictor.steps: ${eval:2*3} uses the resolver 'eval', which is not registered",
         "'eval' is xlm-core's: docs/porting_from_xlm_core.md, section 9, says what replaces it"),
    ],
)
def test_values_that_cannot_be_resolved_name_file_line_and_key(project, monkeypatch, experiment, key, what, fix):
    """The job resolves the composed config; `explain` turns OmegaConf's error into two lines."""
    import copy

    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from xlm.config_errors import explain
    from xlm.external_models import setup_external_models
    from xlm.tokenizer import register_resolvers

    monkeypatch.chdir(project)
    setup_external_models()
    register_resolvers()
    with initialize_config_module("xlm.configs", version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}", f"paths.output_dir={project}"])
    unresolved = copy.deepcopy(cfg)
    with pytest.raises(Exception) as caught:
        OmegaConf.resolve(cfg)
    error = explain(caught.value, unresolved, {"experiment": experiment})
    assert error is not None, caught.value
    line = line_of(project, experiment, f"{key}:")
    assert error.what == f"brk/configs/experiment/{experiment}.yaml:{line}: {what}"
    assert error.fix.startswith(fix)


@pytest.mark.parametrize("experiment, what", [
    ("bad_interp", "steps: ${model.max_len} refers to 'model.max_len', which the config does not have"),
    ("bad_resolver", "steps: ${no_such_resolver:6} uses the resolver 'no_such_resolver', which is not registered"),
])
def test_values_hydra_resolves_for_cfg_resolve_name_file_and_line(project, experiment, what):
    """`--cfg job --resolve` resolves in Hydra, where OmegaConf names no key: the value's text
    finds its line (it said "a config value ..."; fuzzing)."""
    proc = xlm(project, "train", f"experiment={experiment}", "--cfg", "job", "--resolve")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 2, proc.stderr
    assert lines[0] == f"error: brk/configs/experiment/{experiment}.yaml:{line_of(project, experiment, 'steps:')}: {what}"


def test_a_value_left_unset_names_its_file_and_line(project, monkeypatch):
    """``???`` fails where it is read (``instantiate``, the harness), with OmegaConf's key."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from xlm.config_errors import explain
    from xlm.external_models import setup_external_models

    monkeypatch.chdir(project)
    setup_external_models()
    with initialize_config_module("xlm.configs", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=bad_missing_value", f"paths.output_dir={project}"])
    where = f"brk/configs/experiment/bad_missing_value.yaml:{line_of(project, 'bad_missing_value', 'steps:')}"
    with pytest.raises(Exception) as caught:
        OmegaConf.to_container(cfg.predictor, resolve=True, throw_on_missing=True)
    error = explain(caught.value, choices={"experiment": "bad_missing_value"})
    assert (error.what, error.fix) == (f"{where}: predictor.steps has no value (???)",
                                       "give it one: predictor.steps=VALUE, or set it in the experiment")
    with pytest.raises(Exception) as caught:
        cfg.predictor.again
    error = explain(caught.value, cfg, {"experiment": "bad_missing_value"})
    again = f"brk/configs/experiment/bad_missing_value.yaml:{line_of(project, 'bad_missing_value', 'again:')}"
    assert error.what == f"{again}: predictor.again: ${{predictor.steps}} refers to 'predictor.steps', which has no value (???)"


@pytest.mark.parametrize("override, key", [("optimizer.lr=???", "optimizer.lr"), ("seed=???", "seed")])
def test_a_value_left_unset_on_the_command_line_names_the_override(project, override, key):
    """It named `datamodule/text.yaml:12` (a `files: ???` of a config the job does not use) and `lr=VALUE`."""
    proc = xlm(project, "train", "experiment=star_easy_arlm", override)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2:] == [
        f"error: `{override}` on the command line leaves {key} without a value", f"  fix: give it one: {key}=VALUE"]


def test_a_bad_value_given_on_the_command_line_names_the_override_not_a_file(project):
    """`seed=${seed}` was blamed on xlm/configs/datamodule/text.yaml:32, a file the run does not
    even select, whose line holds the same text (fuzz_cli 7)."""
    proc = xlm(project, "train", "experiment=star_easy_arlm", "seed=${seed}")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2] == (
        "error: `seed=${seed}` on the command line: seed: ${seed}: Recursive interpolation detected"), proc.stderr


@pytest.mark.slow
def test_an_unresolvable_value_ends_the_job_with_two_lines(project):
    proc = xlm(project, "train", "experiment=bad_interp")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert lines[-2] == (f"error: brk/configs/experiment/bad_interp.yaml:{line_of(project, 'bad_interp', 'steps:')}: "
                         "predictor.steps: ${model.max_len} refers to 'model.max_len', which the config does not have")
    assert "Traceback" not in proc.stderr and "Error executing job" not in proc.stderr


def test_a_mistake_on_the_command_line_names_the_override_not_a_file(project):
    proc = xlm(project, "train", "experiment=bad_interp", "model=nope")
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model 'nope' (in `model=nope`)"), proc.stderr


def test_an_option_of_a_package_installed_without_an_entry_point_says_to_declare_one(project, tmp_path):
    """The seed's way (`setup.py`, `pip install -e .`) makes the package importable but declares no
    `xlm.models` entry point: xlm never sees it, and the error only listed the other options."""
    site = tmp_path / "site"
    (site / "seedy").mkdir(parents=True)
    (site / "seedy" / "__init__.py").write_text("")
    (site / "configs" / "experiment").mkdir(parents=True)
    (site / "configs" / "experiment" / "seedy_debug.yaml").write_text("# @package _global_\n")
    dist = site / "seedy-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: seedy\nVersion: 0.1\n")
    (dist / "top_level.txt").write_text("seedy\n")
    proc = xlm(project, "train", "experiment=seedy_debug", PYTHONPATH=str(site))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2:] == [
        "error: unknown experiment 'seedy_debug' (in `experiment=seedy_debug`)",
        f"  fix: the installed package 'seedy' ({site / 'seedy'}) has it, but its distribution 'seedy' declares no xlm.models "
        "entry point: add [project.entry-points.\"xlm.models\"] seedy = \"seedy\" to its pyproject.toml and install it again, "
        "or list its folder in .xlm_models",
    ]


def test_configs_in_the_current_folder_are_not_blamed_on_an_installed_package(project):
    """An editable install puts a path hook (not a folder) in a namespace package's search path,
    whose parent is `.`: `./configs/experiment/foo.yaml` of a folder that is no model was said to
    belong to xlm's own `hydra_plugins` (fuzzing: a clone named after its repository)."""
    (project / "configs" / "experiment").mkdir(parents=True)
    (project / "configs" / "experiment" / "foo.yaml").write_text("# @package _global_\n")
    proc = xlm(project, "train", "experiment=foo")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-2] == "error: unknown experiment 'foo' (in `experiment=foo`)"
    assert "has it, but its distribution" not in proc.stderr, proc.stderr


def test_a_typo_in_a_command_line_override_of_a_nested_group_names_the_override(project):
    """It was blamed on the model's config that selects the group (`named in model_type/brk`)."""
    (project / "brk" / "configs" / "model_type" / "brk.yaml").write_text(
        "# @package _global_\ndefaults:\n  - /sampler@loss.sampler: fast\n  - _self_\nloss:\n  _target_: brk.model.Net\n")
    (project / "brk" / "configs" / "experiment" / "fine.yaml").write_text(HEAD + "job_name: fine\n")
    proc = xlm(project, "train", "experiment=fine", "sampler@loss.sampler=fsat")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: unknown sampler 'fsat' (in `sampler@loss.sampler=fsat`)", "  fix: choose one of: fast, slow"]


def test_cfg_job_with_a_package_the_config_lacks_is_two_lines(capsys, tmp_path):
    """Hydra's bare `package 'model.d_modle' not found in config`, exit 1."""
    assert xlm_main(["train", "experiment=star_easy_arlm", "--cfg", "job", "--package", "model.d_modle"]) == 2
    what, fix = capsys.readouterr().err.splitlines()
    assert what == "error: --package model.d_modle: the job's config has no key 'model.d_modle'"
    assert fix.startswith("  fix: did you mean 'model.d_model'? give a key it has: model._target_, ")
    # one that exists prints as before (in a process of its own: Hydra's printing leaves its state set)
    proc = subprocess.run(xlm_command("train", "experiment=star_easy_arlm", "--cfg", "job", "--package", "model"), cwd=tmp_path,
                          env=xlm_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("# @package model\n_target_: arlm.model.ARLMTransformer\n"), proc.stderr

"""A model's config files as Hydra and OmegaConf will read them (xlm.external.configs, through
validation): one UTF-8 YAML document, no key twice, no unsafe tag, no alias bomb, bounded
nesting, its `# @package` header seen, and its targets read as YAML reads them."""

from __future__ import annotations

import pytest

from xlm.external.validation import inspect_model

from .builders import make_model


@pytest.mark.parametrize("text, line", [
    ("a: " + "[" * 200 + "]" * 200 + "\n", None),  # the limit itself is fine
    ("a: " + "{x: " * 201 + "1" + "}" * 201 + "\n", 1),
    ("a: 1\nb:\n  - " + "[" * 201 + "]" * 201 + "\n", 3),
    ("a: '" + "[" * 5000 + "'\nb: \"" + "{" * 5000 + "\"\n", None),  # quoted: text, not collections
    ("# " + "[" * 5000 + "\nc: 1  # " + "{" * 5000 + "\n", None),  # comments
    ("a: [" + "[], " * 5000 + "[]]\n", None),  # many collections, none deep
    # an apostrophe in a plain or block scalar quotes nothing: the brackets after it count
    ("a: it's\nb: " + "[" * 50_000 + "]" * 50_000 + "\nc: it's\n", 2),
    ("a: |\n  it's\nb: " + "[" * 50_000 + "]" * 50_000 + "\nc: 'x'\n", 3),
    ("a: \"it's\"\nb: '" + "[" * 5000 + "'\nc: it's\n", None),
])
def test_flow_depth_is_bounded_and_only_real_collections_count(text, line):
    from xlm.external.configs import YamlSyntaxError, check_syntax

    if line is None:  # libyaml's bound holds (OmegaConf's, far lower, may not: test_omegaconf_depth)
        try:
            check_syntax(text)
        except YamlSyntaxError as exc:
            assert "more than 200" not in exc.problem
    else:
        with pytest.raises(YamlSyntaxError, match="nested more than 200 levels deep") as info:
            check_syntax(text)
        assert info.value.line == line


@pytest.mark.parametrize("text, line", [
    ("- " * 50_000 + "x\n", 1),  # crashed the process (SIGSEGV) in libyaml's composer
    ("? " * 50_000 + "x\n", 1),
    ("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 300)) + " " * 300 + "v\n", 201),  # by indentation
    ("- " * 199 + "x\n", None),
    ("x: " + "- " * 5000 + "\n", None),  # indicators inside a scalar open nothing
    ("# " + "- " * 5000 + "\n" + "a: " + "y" * 9000 + "\n", None),  # long lines, nothing deep
    ("  " * 150 + "- - x\n", None),  # indented, but not deep: parsed into events to find out
    # libyaml starts a line at "\r", U+0085, U+2028 and U+2029 too
    *((f"_target_: x{brk}x:{brk} " + "- " * 50_000 + "y\n", 3) for brk in ("\r", "\r\n", "\x85", "\u2028", "\u2029")),
    ("a:\r\n" + "".join(" " * i + f"k{i}:\r\n" for i in range(1, 300)) + " " * 300 + "v\r\n", 201),
    ("? a\n: " + "- " * 50_000 + "y\n", 2),  # a value's compact sequence
    ("\ufeff" + "- " * 50_000 + "y\n", 1),  # after a byte order mark
])
def test_block_depth_is_bounded(text, line):
    from xlm.external.configs import YamlSyntaxError, check_syntax, command_lines

    for read in (check_syntax, command_lines):
        if line is None:
            try:
                read(text)
            except YamlSyntaxError as exc:
                assert "more than 200" not in exc.problem
        else:
            with pytest.raises(YamlSyntaxError, match="nested more than 200 levels deep") as info:
                read(text)
            assert info.value.line == line


@pytest.mark.parametrize("limit", [2, 3, 6])
def test_the_bound_that_spares_parsing_holds_for_any_text(monkeypatch, limit):
    """Whatever `_surely_shallow` passes nests no deeper than the limit, by libyaml's own events
    (read up to its first error: the composer recurses before it gets there). Random lines of
    what opens collections, hides them or breaks lines, under small limits."""
    import random

    import yaml

    from xlm.external import configs

    monkeypatch.setattr(configs, "MAX_DEPTH", limit)
    starts = ["", "\ufeff", " ", "   ", "\t", "a: ", "&x ", "# ", "'", "it's "]
    openers = ["- ", "? ", ": ", "-\t", "- \t", "-  ", "[", "{a: ", "a: ", "'", '"', "- &x ", "!!seq "]
    ends = ["", "x", "]", "}", "it's", "|", "#"]
    breaks = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"]
    rng = random.Random(8)
    checked = 0
    for _ in range(20_000):
        lines = [rng.choice(starts) + "".join(rng.choices(openers, k=rng.randint(0, 9))) + rng.choice(ends)
                 for _ in range(rng.randint(1, 4))]
        text = "".join(line + rng.choice(breaks) for line in lines)
        if not configs._surely_shallow(text):
            continue
        flow = block = 0
        try:
            for event in yaml.parse(text, Loader=yaml.CSafeLoader):
                if isinstance(event, yaml.CollectionStartEvent):
                    flow, block = (flow + 1, block) if event.flow_style else (flow, block + 1)
                    assert max(flow, block) <= limit, repr(text)
                elif isinstance(event, yaml.CollectionEndEvent):
                    flow, block = (flow - 1, block) if flow else (flow, block - 1)
        except yaml.YAMLError:
            pass
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("suffix", [".yml", ".YAML", ".Yml"])
def test_a_yml_config_is_named_as_one_hydra_never_reads(tmp_path, suffix):
    root = make_model(tmp_path, "my_model")
    model = root / "configs" / "model"
    (model / "my_model.yaml").rename(model / f"my_model{suffix}")
    info = inspect_model(root, "my_model")
    assert [(p.kind, p.what) for p in info.problems] == [
        ("missing_configs", "External model 'my_model' missing required config groups: ['model']")]
    assert [(p.kind, p.where, p.fix) for p in info.warnings] == [
        ("ignored_config", str(model / f"my_model{suffix}"), "rename it to my_model.yaml")]


@pytest.mark.parametrize("shape", ["link to a folder", "folder"])
def test_a_required_config_that_is_a_folder_is_named_as_one(tmp_path, shape):
    """Walked as a folder, it leaves the group empty: the problem says what is there, not "create it"."""
    root = make_model(tmp_path, "my_model")
    config = root / "configs" / "model" / "my_model.yaml"
    config.unlink()
    config.symlink_to("..") if shape == "link to a folder" else config.mkdir()
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.kind, problem.what, problem.where, problem.fix) == (
        "missing_configs",
        "External model 'my_model' missing required config groups: ['model']: configs/model/my_model.yaml is a folder "
        "(or a symbolic link to one), not a file",
        str(config), "make configs/model/my_model.yaml a YAML file")


@pytest.mark.parametrize("data, what, line", [
    (b"a: 1\nname: caf\xe9\n", "it is not valid UTF-8 (byte 0xe9); Hydra reads configs as UTF-8", 2),
    ("\ufeff# @package _global_\nmodel:\n  x: 1\n".encode(), "it starts with a byte order mark, which hides its `# @package` header from Hydra", 1),
])
def test_a_config_hydra_would_misread_is_a_problem(tmp_path, data, what, line):
    root = make_model(tmp_path, "my_model")
    path = root / "configs" / "experiment" / "odd.yaml"
    path.write_bytes(data)
    [problem] = inspect_model(root, "my_model").problems
    assert (problem.kind, problem.what, problem.where) == (
        "invalid_config", f"External model 'my_model' has a config file that does not parse: {what}", f"{path}:{line}")


def test_a_byte_order_mark_without_a_header_is_fine(tmp_path):
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "experiment" / "plain.yaml").write_bytes("\ufeffa: 1\n".encode())
    assert inspect_model(root, "my_model").problems == []


def test_an_empty_configs_folder_in_the_package_does_not_hide_the_roots(tmp_path):
    root = make_model(tmp_path, "my_model")
    (root / "my_model" / "configs").mkdir()
    info = inspect_model(root, "my_model")
    assert info.problems == [] and info.configs_dir == root / "configs"


_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))


_QUOTE = "(quote it to keep it as a string, or write a smaller number)"
_STACK = "(OmegaConf and Hydra recurse once per level, and Python's stack ends before 100)"


@pytest.mark.parametrize("text, what, line", [
    ("model:\n  x: 1\nother: 2\nmodel:\n  d: 3\n", "the key 'model' appears twice in one mapping", 4),  # a block appended
    ("a:\n  b: 1\n  c: [1, {d: 2, d: 3}]\n", "the key 'd' appears twice in one mapping", 3),
    # two spellings YAML reads as one key: OmegaConf kept the later value silently
    ("1: a\n0x1: b\n", "the key '0x1' appears twice in one mapping (YAML reads '1' and '0x1' as one key)", 2),
    ("x:\n  true: a\n  yes: b\n", "the key 'yes' appears twice in one mapping (YAML reads 'true' and 'yes' as one key)", 3),
    ("1: a\n1.0: b\n", "the key '1.0' appears twice in one mapping (YAML reads '1' and '1.0' as one key)", 2),
    ("1000: a\n1e3: b\n", "the key '1e3' appears twice in one mapping (YAML reads '1000' and '1e3' as one key)", 2),  # OmegaConf's floats
    ("0.5: a\n.5: b\n", "the key '.5' appears twice in one mapping (YAML reads '0.5' and '.5' as one key)", 2),
    ("1:30: a\n90: b\n", "the key '90' appears twice in one mapping (YAML reads '1:30' and '90' as one key)", 2),  # base 60
    ("x: {.nan: a, .NaN: b}\n", "the key '.NaN' appears twice in one mapping (YAML reads '.nan' and '.NaN' as one key)", 1),
    ("!!float 1: a\n1: b\n", "the key '1' appears twice in one mapping", 2),  # tagged: the tag decides
    ("x: !!python/object/apply:os.system ['echo hi']\n", "the tag 'python/object/apply:os.system' is not one a safe YAML loader knows", 1),
    ("x: !custom 1\n", "the tag '!custom' is not one a safe YAML loader knows", 1),
    (_LAUGHS, "its aliases expand to more than 1,000,000 values", 7),  # composing it would never end
    ("a: &a [1, *a]\n", "an alias refers to a node that holds it (the value would be infinite)", 1),
    ("a: 1\n---\nb: 2\n", "expected a single document in the stream, but found another document", 2),
    # loading would fail with Python's own message, naming no file
    ("seed: 1\nbig: " + "9" * 4301 + "\n", f"an integer of 4,301 digits: Python reads and writes at most 4,300 {_QUOTE}", 2),
    ("x:\n  - [1, -" + "1_" * 5000 + "1]\n", f"an integer of 5,001 digits: Python reads and writes at most 4,300 {_QUOTE}", 2),
    ("a: &n " + "7" * 5000 + "\nb: *n\n", f"an integer of 5,000 digits: Python reads and writes at most 4,300 {_QUOTE}", 1),
    # loaded, but the job's config cannot be printed or saved (decimal again)
    ("big: !!int '" + "9" * 4400 + "'\n", f"an integer of 4,400 digits: Python reads and writes at most 4,300 {_QUOTE}", 1),
    ("big: 0b" + "1" * 20000 + "\n", f"an integer of 6,021 digits: Python reads and writes at most 4,300 {_QUOTE}", 1),
    ("big: 0x" + "f" * 3700 + "\n", f"an integer of 4,456 digits: Python reads and writes at most 4,300 {_QUOTE}", 1),
    ("big: 1" + ":59" * 3000 + "\n", f"an integer of 5,335 digits: Python reads and writes at most 4,300 {_QUOTE}", 1),
    # nesting OmegaConf and Hydra recurse through until Python's stack ends
    ("".join(" " * i + "k:\n" for i in range(40)) + " " * 40 + "v: 1\n", f"collections nested more than 32 levels deep {_STACK}", 9),
    ("a: &a " + "[" * 20 + "1" + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n", f"collections nested more than 32 levels deep {_STACK}", 2),
    # safe YAML that OmegaConf cannot hold
    ("x: !!set {a, b}\n", "the tag 'set' makes a set, which OmegaConf cannot hold", 1),
    ("x: !!timestamp 2024-01-01\n", "the tag 'timestamp' makes a date, which OmegaConf cannot hold", 1),
    ("a: 1\n~: 2\n", "a key that is null ('~'): OmegaConf's keys are strings, numbers and booleans (quote it to make it a string)", 2),
    ("? [a, b]\n: 1\n", "a key that is a list or a mapping: OmegaConf's keys are strings, numbers and booleans", 1),
    # header lines Hydra refuses, naming no file
    ("#\t@package\t_global_\na: 1\n", "Hydra refuses the header line '#\\t@package\\t_global_': it reads `# @KEY VALUE`, two words "
     "separated by spaces (a line that starts with `# @` is a header line)", 1),
    ("\n# @package _global_ # note\n", "Hydra refuses the header line '# @package _global_ # note': it reads `# @KEY VALUE`, two "
     "words separated by spaces (a line that starts with `# @` is a header line)", 2),
])
def test_yaml_that_omegaconf_refuses_or_never_finishes_is_a_syntax_problem(text, what, line):
    from xlm.external.configs import YamlSyntaxError, check_syntax

    with pytest.raises(YamlSyntaxError) as info:
        check_syntax(text)
    assert (info.value.problem, info.value.line) == (what, line)


@pytest.mark.parametrize("text", [
    "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n",  # merge keys and shared anchors are fine
    "a: &v [1, 2]\nb: *v\nc: *v\n",
    "# @package _global_\n", "", "n: null\nt: true\nf: 1.5e-3\nd: 2024-01-01\ns: !!str 12\n",
    "#@package _global_\n", "# @foo bar\n# @package  _global_  \n", "# a comment\n# @todo\n",  # header lines as Hydra reads them
    "'~': 1\n\"null\": 2\nx: !!omap [a: 1]\n'1': a\n1: b\n",  # quoted keys are strings, and not the integer
    "!!str 1: a\n1: b\n&k !!str 2.0: c\n2: d\n1e3: e\n1000.5: f\n",  # a key tagged !!str is text, as OmegaConf keeps it
    "".join(" " * i + "k:\n" for i in range(31)) + " " * 31 + "v: 1\n",  # deep block nesting, at OmegaConf's bound
    "n: " + "9" * 4300 + "\nq: '" + "9" * 5000 + "'\nf: " + "9" * 5000 + ".5\nh: 0x" + "f" * 3000 + "\n",  # what Python converts
])
def test_ordinary_yaml_passes(text):
    from xlm.external.configs import check_syntax

    check_syntax(text)


@pytest.mark.parametrize("collator, shown, line", [
    ('_target_: ""\n', "''", 1),
    ("_target_: 42\n", "'42'", 1),
    ("_target_: [a, b]\n", "'[a, b]'", 1),
    ("_target_: >-\n  my_model.collators.\n  Nope\n", None, 1),  # folded: YAML reads 'my_model.collators. Nope'
    ("name: &t my_model.collators.Gone\n_target_: *t\n", "'my_model.collators.Gone'", 1),  # through an anchor
    ('"_target_": my_model.collators.Gone\n', "'my_model.collators.Gone'", 1),  # a quoted key
    ("_target_: ${oc.env:X}\n", "", None),  # an interpolation is Hydra's to resolve
])
def test_every_target_is_read_as_yaml_reads_it(tmp_path, collator, shown, line):
    """Targets come from the composed YAML nodes, not from a scan of lines."""
    root = make_model(tmp_path, "my_model", files={"configs/collator/default_my_model.yaml": collator})
    info = inspect_model(root, "my_model")
    assert info.problems == []
    if line is None:
        assert info.warnings == []
        return
    [warning] = info.warnings
    assert warning.where == f"{root / 'configs' / 'collator' / 'default_my_model.yaml'}:{line}"
    if shown is not None:
        assert warning.what.startswith(f"External model 'my_model' has a bad target {shown}: ")
    assert "not a dotted Python path" in warning.what or "is not defined" in warning.what


@pytest.mark.parametrize("rel, text, key", [
    ("configs/model/my_model.yaml", "model:\n  _target_: my_model.model.MyModelModel\n", "model"),  # becomes model.model
    ("configs/model_type/my_model.yaml", "loss:\n  _target_: my_model.loss.MyModelLoss\n", "loss"),
    ("configs/model/my_model.yaml", "\ufeff# @package _global_\nmodel:\n  d: 1\n", None),  # a BOM hides it: a problem, above
    ("configs/model/other.yaml", "_target_: my_model.model.MyModelModel\nd_model: 8\n", None),  # meant to sit under `model`
    ("configs/model/other.yaml", "# @package _global_\nmodel:\n  d_model: 8\n", None),
    # an experiment sets the job's own keys: they landed under `experiment` and were ignored (lr, job_name)
    ("configs/experiment/mine.yaml", "defaults:\n  - my_model_debug\njob_name: mine\noptimizer:\n  lr: 0.1\n", "job_name"),
    ("configs/experiment/mine.yaml", "defaults:\n  - my_model_debug\n", None),  # nothing of its own: nothing lost
    # Hydra reads the header from the leading `# @` lines only: below a plain comment it is no header
    ("configs/experiment/mine.yaml", "# Lab experiment\n# @package _global_\njob_name: mine\n", "job_name"),
    ("configs/experiment/mine.yaml", "\n# @package _global_\n\n# Lab experiment\njob_name: mine\n", None),
    ("configs/model_type/my_model.yaml", "# @package _group_\nloss:\n  _target_: my_model.loss.MyModelLoss\n", None),  # below
])
def test_a_config_hydra_would_nest_under_its_group_is_a_warning(tmp_path, rel, text, key):
    """Without `# @package _global_`, `model:` in configs/model/x.yaml is `model.model`: the job fails far from the cause."""
    root = make_model(tmp_path, "my_model", files={rel: text})
    info = inspect_model(root, "my_model")
    unplaced = [w for w in info.warnings if w.kind == "unplaced_config"]
    if key is None:
        assert unplaced == []
        return
    group = rel.split("/")[1]
    [warning] = unplaced
    assert warning.what == (f"External model 'my_model' has a config without a `# @package _global_` line: Hydra puts it under "
                            f"`{group}`, so its `{key}` becomes `{group}.{key}`, which xlm never reads")
    assert warning.where == f"{root / rel}:1" and warning.fix.startswith("make `# @package _global_` its first line")


@pytest.mark.parametrize("header, old", [("_group_", "_group_"), ("_group_._name_", "_group_"), ("foo._name_", "_name_"),
                                         ("_global_", None), ("model", None)])
def test_a_hydra_1_0_package_header_is_a_warning(tmp_path, header, old):
    """Hydra 1.1+ reads `_group_` and `_name_` literally: the file's keys landed under `_group_`,
    and the job then said the experiment selects no model (fuzz_layouts L5)."""
    rel = "configs/model/my_model_group.yaml"
    root = make_model(tmp_path, "my_model", files={rel: f"# @package {header}\n_target_: my_model.model.MyModelModel\n"})
    found = [w for w in inspect_model(root, "my_model").warnings if w.kind == "hydra10_package"]
    if old is None:
        assert found == []
        return
    [warning] = found
    assert warning.what == (f"External model 'my_model' has a config whose `# @package {header}` header Hydra 1.0 read, but "
                            f"Hydra 1.1 and later take `{old}` literally: its keys land under a key named `{old}`")
    assert warning.where == f"{root / rel}:1"
    assert warning.fix == "write `# @package _global_`, as xlm's own configs do, or the group's path (`# @package model`)"


def test_a_config_larger_than_a_mib_is_refused_before_it_is_composed(tmp_path):
    root = make_model(tmp_path, "my_model")
    big = root / "configs" / "experiment" / "big.yaml"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_text("x:\n" + "- a\n" * (2**18))  # 1 MiB + 3 bytes: ~80 MB and seconds to compose
    info = inspect_model(root, "my_model")
    assert [(p.kind, p.what, p.where) for p in info.problems] == [(
        "invalid_config", "External model 'my_model' has a config file that does not parse: it is larger than 1 MiB; "
        "a config holds settings, and data belongs in files the model reads", str(big))]


def test_a_config_folder_named_like_a_group_but_not_as_it_is_said_with_its_rename(tmp_path):
    """`experiments/` or `model_types/`: Hydra reads a group no job selects; nothing pointed at the folder."""
    root = make_model(tmp_path, "my_model")
    (root / "configs" / "experiment").rename(root / "configs" / "experiments")
    (root / "configs" / "model_type").rename(root / "configs" / "Model-Types")
    (root / "configs" / "sampler").mkdir()
    (root / "configs" / "sampler" / "fast.yaml").write_text("steps: 3\n")  # a group of the model's own: no near miss
    info = inspect_model(root, "my_model")
    assert [(w.kind, w.where, w.fix) for w in info.warnings] == [
        ("misnamed_group", str(root / "configs" / "experiments"), "rename it to configs/experiment/")]
    [problem] = info.problems
    assert problem.what == "External model 'my_model' missing required config groups: ['model_type']"
    assert problem.fix == "rename configs/Model-Types/ to configs/model_type/"

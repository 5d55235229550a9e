"""The star-graph generator: deterministic, correct, disjoint splits, cached once."""

from __future__ import annotations

import random

import pytest

from xlm.tasks.star import StarGraphTask, generate_graph, generate_splits, is_path

SIZES = {"train": 300, "val": 50, "test": 50}


def test_same_parameters_give_the_same_data():
    assert generate_splits(3, 5, 20, SIZES, seed=7) == generate_splits(3, 5, 20, SIZES, seed=7)
    assert generate_splits(3, 5, 20, SIZES, seed=7) != generate_splits(3, 5, 20, SIZES, seed=8)


def test_every_path_is_a_real_path_from_start_to_goal():
    for split in generate_splits(3, 5, 20, SIZES, seed=1).values():
        for g in split:
            assert is_path(g.edges, g.path, g.start, g.goal)
            assert len(g.path) == 5 and len(g.edges) == 3 * 4
            nodes = [n for e in g.edges for n in e]
            assert len(set(nodes)) == 1 + 3 * 4 and all(0 <= n < 20 for n in nodes)
            assert sum(1 for u, _ in g.edges if u == g.start) == 3  # the start is the centre


def test_is_path_rejects_wrong_paths():
    g = generate_graph(random.Random(0), 3, 5, 20)
    assert not is_path(g.edges, g.path[:-1], g.start, g.goal)
    assert not is_path(g.edges, g.path[::-1], g.goal, g.start)  # edges are directed
    wrong_arm = next(v for u, v in g.edges if u == g.start and v != g.path[1])
    assert not is_path(g.edges, (g.start, wrong_arm, *g.path[2:]), g.start, g.goal)


def test_splits_are_disjoint():
    splits = generate_splits(3, 5, 20, SIZES, seed=3)
    keys = {name: {g.key() for g in graphs} for name, graphs in splits.items()}
    assert all(len(keys[n]) == SIZES[n] for n in SIZES)
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]


def test_evaluation_splits_do_not_depend_on_the_train_size():
    small = generate_splits(3, 5, 20, {"train": 10, "val": 20, "test": 20}, seed=5)
    large = generate_splits(3, 5, 20, {"train": 500, "val": 20, "test": 20}, seed=5)
    assert small["val"] == large["val"] and small["test"] == large["test"]


def test_impossible_parameters_are_explained():
    with pytest.raises(ValueError, match="need 13 node ids"):
        generate_splits(3, 5, 12, SIZES, seed=0)
    with pytest.raises(ValueError, match="distinct"):
        generate_splits(1, 2, 2, {"train": 10}, seed=0)


def test_task_generates_once_into_its_cache_and_tokenizes(tmp_path, tokenizer):
    task = StarGraphTask(num_examples=SIZES, seed=11, data_dir=str(tmp_path))
    folder = task.prepare()
    assert (folder / ".ready").exists() and folder.parent == tmp_path / "tasks"
    stamp = (folder / "train.jsonl").stat().st_mtime_ns
    assert StarGraphTask(num_examples=SIZES, seed=11, data_dir=str(tmp_path)).prepare() == folder
    assert (folder / "train.jsonl").stat().st_mtime_ns == stamp  # read from the cache
    assert StarGraphTask(num_examples=SIZES, seed=12, data_dir=str(tmp_path)).folder != folder

    rows, examples = task.read("val"), task.examples("val", tokenizer)
    assert len(examples) == 50
    row, ex = rows[0], examples[0]
    assert ex["prompt_ids"][-1] == tokenizer.sep_token_id
    assert tokenizer.decode(ex["prompt_ids"][-3:-1]) == f"{row['start']} {row['goal']}"
    assert tokenizer.decode(ex["target_ids"]) == " ".join(map(str, row["path"]))
    assert len(ex["prompt_ids"]) == 2 * 12 + 3


def test_without_a_data_dir_the_task_uses_the_users_data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLM_DATA_DIR", str(tmp_path / "shared"))
    assert StarGraphTask(num_examples=SIZES).folder.parent == tmp_path / "shared" / "tasks"


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        StarGraphTask(num_examples=SIZES, data_dir=str(tmp_path)).read("dev")

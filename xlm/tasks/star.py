"""Path finding on star graphs (Bachmann & Nagarajan 2024, "The pitfalls of next-token prediction").

A star graph has a centre and ``degree`` arms, each a chain of ``path_length - 1`` nodes.
Node ids are drawn from ``0 .. num_ids-1`` and the edges are listed in random order, so the
model must find, from the centre, the arm that ends at the goal. The prompt is the edge list
(``u v`` pairs), the start and the goal, then ``<sep>``; the target is the path itself.

Data are generated locally and deterministically (one seeded RNG, no network) the first time
a configuration is used, then read from a folder under ``data_dir`` whose name hashes every parameter.
Generation is `xlm.data.store.build_once`: a file lock, a fully written folder renamed into
place and marked ready last, so concurrent runs (Hydra multirun, DDP ranks) never see half a
dataset, and a folder that lost a file is generated again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from xlm.paths import data_dir

SPLITS = ("train", "val", "test")
# Bump when the generated data change for the same parameters: it is part of the cache key.
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class StarGraph:
    """One example: shuffled directed edges (parent, child), the query, and its answer."""

    edges: tuple[tuple[int, int], ...]
    start: int
    goal: int
    path: tuple[int, ...]

    def key(self) -> tuple:
        """Identity of the problem (edge order does not matter), used to keep splits disjoint."""
        return (tuple(sorted(self.edges)), self.goal)


def generate_graph(rng: random.Random, degree: int, path_length: int, num_ids: int) -> StarGraph:
    """Draw one star graph: distinct node ids, arms of ``path_length - 1`` nodes, a random goal arm."""
    nodes = rng.sample(range(num_ids), 1 + degree * (path_length - 1))
    centre, rest = nodes[0], nodes[1:]
    arms = [rest[i * (path_length - 1) : (i + 1) * (path_length - 1)] for i in range(degree)]
    edges = [(([centre] + arm)[j], arm[j]) for arm in arms for j in range(len(arm))]
    rng.shuffle(edges)
    arm = arms[rng.randrange(degree)]
    return StarGraph(tuple(edges), centre, arm[-1], (centre, *arm))


def is_path(edges: Any, path: Any, start: int, goal: int) -> bool:
    """Whether ``path`` walks the directed ``edges`` from ``start`` to ``goal``."""
    edge_set = {tuple(e) for e in edges}
    steps_ok = all((a, b) in edge_set for a, b in zip(path, path[1:]))
    return bool(path) and path[0] == start and path[-1] == goal and steps_ok


def generate_splits(
    degree: int, path_length: int, num_ids: int, num_examples: Mapping[str, int], seed: int
) -> dict[str, list[StarGraph]]:
    """All splits from one seeded RNG; no problem appears twice, within or across splits.

    Evaluation splits are drawn first so that their size does not depend on the train size.
    """
    needed = 1 + degree * (path_length - 1)
    if degree < 1 or path_length < 2:
        raise ValueError(f"a star graph needs degree >= 1 and path_length >= 2 (got {degree}, {path_length})")
    if needed > num_ids:
        raise ValueError(f"degree {degree} and path_length {path_length} need {needed} node ids, only {num_ids} given")
    rng = random.Random(seed)
    seen: set[tuple] = set()
    out: dict[str, list[StarGraph]] = {}
    for split in ("val", "test", "train"):
        count, graphs = int(num_examples.get(split, 0)), []
        attempts = 0
        while len(graphs) < count:
            attempts += 1
            if attempts > 20 * count + 1000:
                raise ValueError(f"cannot draw {count} distinct '{split}' graphs; use more node ids or fewer examples")
            graph = generate_graph(rng, degree, path_length, num_ids)
            if graph.key() not in seen:
                seen.add(graph.key())
                graphs.append(graph)
        out[split] = graphs
    return out


@dataclass(frozen=True)
class StarGraphTask:
    """A star-graph data set described by its parameters; the datamodule's ``task``."""

    name: str = "star_easy"
    degree: int = 3
    path_length: int = 5
    num_ids: int = 20
    num_examples: Mapping[str, int] | None = None
    seed: int = 42
    data_dir: str | None = None  # None: xlm.paths.data_dir(), the user's data cache

    def _params(self) -> dict:
        params = {k: v for k, v in asdict(self).items() if k != "data_dir"}
        params["num_examples"] = {s: int(n) for s, n in dict(self.num_examples or {}).items()}
        return {**params, "generator_version": GENERATOR_VERSION}

    @property
    def folder(self) -> Path:
        digest = hashlib.sha256(json.dumps(self._params(), sort_keys=True).encode()).hexdigest()[:12]
        root = self.data_dir if self.data_dir is not None else data_dir()
        return Path(os.path.expanduser(str(root))) / "tasks" / f"{self.name}-{digest}"

    def prepare(self) -> Path:
        """Generate the data unless a ready copy is cached; returns the data folder."""
        from xlm.data.store import build_once

        def generate(staging: Path) -> None:
            splits = generate_splits(self.degree, self.path_length, self.num_ids, dict(self.num_examples or {}), self.seed)
            for split, graphs in splits.items():
                with open(staging / f"{split}.jsonl", "w", encoding="utf-8") as handle:
                    for g in graphs:
                        handle.write(json.dumps({"edges": g.edges, "start": g.start, "goal": g.goal, "path": g.path}) + "\n")
            (staging / "params.json").write_text(json.dumps(self._params(), indent=2, sort_keys=True))

        return build_once(self.folder, generate, f"the {self.name} data")

    def read(self, split: str) -> list[dict]:
        """The raw records of one split (edges, start, goal, path as node numbers)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
        with open(self.prepare() / f"{split}.jsonl", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]

    def examples(self, split: str, tokenizer: Any) -> list[dict]:
        """Tokenized :class:`xlm.api.Example`s: prompt = edges, start, goal, ``<sep>``; target = path."""
        to_id = tokenizer.number_to_id
        out = []
        for row in self.read(split):
            prompt = [to_id(n) for edge in row["edges"] for n in edge]
            prompt += [to_id(row["start"]), to_id(row["goal"]), tokenizer.sep_token_id]
            out.append({"prompt_ids": prompt, "target_ids": [to_id(n) for n in row["path"]]})
        return out

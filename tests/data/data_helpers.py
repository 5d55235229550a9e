"""Corpora the text-data tests write: seeded, several scripts and emoji, documents numbered."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

WORDS = ("the a cat dog sat on mat and ran far near river tree stone naïve café über straße "
         "日本語 東京 αβγ λόγος привет мир 😀 🚀 ☕ ñandú ça").split()


def document(rng: random.Random, number: int) -> str:
    """A paragraph of 1-3 lines that starts with its number (``doc00042``), so tests can find it."""
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + "." for _ in range(rng.randint(1, 3))]
    return f"doc{number:05d} " + "\n".join(lines)


def write_corpus(folder: Path, files: int = 3, documents: int = 400, seed: int = 0) -> list[str]:
    """``files`` .txt files of ``documents`` paragraphs each (blank-line separated); the documents in order."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    for index in range(files):
        docs = [document(rng, len(texts) + i) for i in range(documents)]
        (folder / f"part{index}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
        texts.extend(docs)
    return texts


def write_pairs(path: Path, count: int = 300, seed: int = 0) -> list[dict]:
    """A .jsonl of ``{"prompt", "target"}`` records: the target is the prompt's words reversed."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
        rows.append({"prompt": " ".join(words), "target": " ".join(reversed(words)), "id": len(rows)})
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return rows


def xlm_env(folder: Path) -> dict:
    """The environment of an `xlm` subprocess: its own data folder, one thread, offline (inherited)."""
    env = dict(os.environ, XLM_DATA_DIR=str(folder / "data"), XLM_CACHE_DIR=str(folder / "cache"),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("XLM_MODELS_FILE", None)
    return env


def xlm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "xlm", *args]


def cache_hub_dataset(name: str, splits: dict[str, list[dict]], work: Path) -> Path:
    """Put ``name`` into the Hugging Face datasets cache exactly where a download leaves it
    (``<cache>/<namespace>___<name>/default/0.0.0/<hash>/``), built from jsonl without a network."""
    import shutil

    import datasets
    from datasets.packaged_modules.json.json import Json

    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, rows in splits.items():
        files[split] = str(work / f"{split}.jsonl")
        Path(files[split]).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    namespace, _, short = name.rpartition("/")
    builder = Json(cache_dir=str(work / "build"), dataset_name=short, hash="0123abcd", data_files=files)
    builder.download_and_prepare()
    target = Path(datasets.config.HF_DATASETS_CACHE) / f"{namespace}___{short}" / "default" / "0.0.0" / "0123abcd"
    shutil.copytree(builder.cache_dir, target)
    return target


def cache_hub_tokenizer(hf_home: Path, repo_id: str, folder: Path) -> Path:
    """Put the files of ``folder`` into the hub cache as model ``repo_id`` (huggingface_hub's layout)."""
    import shutil

    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        shutil.copy(path, snapshot / path.name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot

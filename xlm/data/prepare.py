"""Tokenized text, cached on disk by content, and the training layout cut from it.

Two cache folders, each keyed by everything its files depend on (see `xlm.data.store`):

1. ``<root>/<mode>-<key>/``: every document tokenized with ``datasets.map``
   (``num_proc`` processes; a document's ids end with ``<eos>`` in LM mode), one Arrow file
   per process and split. Key: the corpus's content, the tokenizer's definition, the mode
   and the fields read. Tokenizing is the expensive step; it runs once per key.
2. ``.../blocks<N>-<key>/`` (LM) or ``.../pairs-<key>/``: the split files a run reads. LM
   packs the documents of a split, joined by their ``<eos>``, into blocks of ``block_size``
   tokens with no padding (the split's last partial block is dropped); pairs keep one
   record per example. Key: the block size and the held-out fraction. Re-cutting is a
   sequential copy of the token ids, so a new block size re-packs without re-tokenizing.

A split the corpus does not have is held out from ``train``: a document is a validation
document when the hash of its text falls below ``val_size``. The hash does not depend on
order or sharding, so streaming (`xlm.data.streaming`) holds out exactly the same
documents, and duplicates of a document never straddle train and validation.

A second run finds both folders ready from the corpus's file digests (remembered by size,
mtime and inode) and the tokenizer's digest, without importing `datasets`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from xlm.data.fingerprint import digest_of
from xlm.data.sources import SPLIT_FIX, too_long
from xlm.data.store import build_once, damaged, is_ready
from xlm.errors import UserError, causes

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the files written here change for the same inputs: part of every key
LAYOUT_FORMAT = 2  # the same for the blocks cut from the tokens (2: a split the corpus has is cut from itself)
MODES = ("lm", "pairs")
SPLITS = ("train", "val", "test")
TOKENS_INDEX = "tokens.json"
LAYOUT_INDEX = "layout.json"
_MIN_DOCS_PER_PROCESS = 256  # below this a worker process costs more than it saves


class BadRecord(ValueError):
    """A record whose field is not text, or too long (raised inside `datasets.map`, reported as a UserError)."""

    fix = "every record needs its text field(s) as strings; fix or drop those records"


class TooLong(BadRecord):
    fix = SPLIT_FIX


def bucket(text: str) -> float:
    """A uniform number in [0, 1) fixed by the text alone: below ``val_size`` means held out."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") / 2.0**64


def _texts(values: list, field: str, start: int) -> list:
    for offset, value in enumerate(values):
        if value is not None and not isinstance(value, str):
            raise BadRecord(f"record {start + offset}: field '{field}' is {type(value).__name__}, not text")
        if value is not None and (why := too_long(value)) is not None:
            raise TooLong(f"record {start + offset}: field '{field}' holds {why}")
    return values


def _leave_ctrl_c_to(parent: int | None) -> None:
    """In a tokenizing worker process, ignore Ctrl-C: the parent gets it too and stops the pool;
    otherwise each worker prints its own KeyboardInterrupt traceback."""
    if parent is not None and os.getpid() != parent:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def tokenize_lm(batch: dict, indices: list, tokenizer: Any, column: str, eos: int, parent: int | None = None) -> dict:
    """Documents -> ids ending in ``<eos>``; blank documents (and null fields) are skipped."""
    _leave_ctrl_c_to(parent)
    texts = [t for t in _texts(batch[column], column, indices[0] if indices else 0) if t is not None and t.strip()]
    return {"ids": [ids + [eos] for ids in tokenizer.encode_batch(texts)], "bucket": [bucket(t) for t in texts]}


def tokenize_pairs(batch: dict, indices: list, tokenizer: Any, prompt: str, target: str, parent: int | None = None) -> dict:
    _leave_ctrl_c_to(parent)
    start = indices[0] if indices else 0
    prompts, targets = _texts(batch[prompt], prompt, start), _texts(batch[target], target, start)
    for offset, (p, t) in enumerate(zip(prompts, targets)):
        if p is None or t is None:
            raise BadRecord(f"record {start + offset}: field '{prompt if p is None else target}' is missing")
    return {"prompt_ids": tokenizer.encode_batch(prompts), "target_ids": tokenizer.encode_batch(targets),
            "bucket": [bucket(p + "\x00" + t) for p, t in zip(prompts, targets)]}


@dataclass
class PreparedText:
    """The split files a run reads (``test`` may be the ``val`` file) and what they hold."""

    folder: Path
    files: dict[str, Path]
    info: dict


def prepare(source: Any, tokenizer: Any, *, mode: str = "lm", block_size: int = 128, text_field: str = "text",
            prompt_field: str = "prompt", target_field: str = "target", val_size: float = 0.01,
            num_proc: int | None = None, root: Path) -> PreparedText:
    """Tokenize (once per key) and cut the layout (once per key) of ``source``; see the module doc."""
    if mode not in MODES:
        raise UserError(f"datamodule.mode={mode} is not one of {', '.join(MODES)}", "lm: pack documents into blocks; pairs: prompt/target records")
    if mode == "lm" and int(block_size) < 2:
        raise UserError(f"datamodule.block_size={block_size} is too small", "use a block of at least 2 tokens (128 to 1024 is usual)")
    if not 0.0 <= float(val_size) < 1.0:
        raise UserError(f"datamodule.val_size={val_size} is not a fraction in [0, 1)", "e.g. datamodule.val_size=0.01 holds out 1% of the documents")
    root = Path(root)
    columns = columns_read(source, mode, text_field, prompt_field, target_field)
    splits = source.splits()
    key = digest_of({"format": FORMAT, "mode": mode, "columns": columns, "tokenizer": tokenizer.digest,
                     "splits": {split: source.identity(split, root) for split in splits}})
    tokens = root / f"{mode}-{key[:16]}"  # the key alone: the same text in another folder is the same cache
    make = partial(_tokenize, source=source, tokenizer=tokenizer, mode=mode, columns=columns, key=key, num_proc=num_proc)
    build_once(tokens, make, f"the tokens of {source.describe()}")

    holdout = [s for s in ("val",) if s not in splits]
    layout_key = digest_of({"format": FORMAT, "layout": LAYOUT_FORMAT, "block_size": int(block_size) if mode == "lm" else None,
                            "val_size": float(val_size) if holdout else None})
    layout = tokens / (f"blocks{int(block_size)}-{layout_key[:8]}" if mode == "lm" else f"pairs-{layout_key[:8]}")
    if not is_ready(layout):
        cut = partial(_cut, tokens=tokens, mode=mode, block_size=int(block_size), val_size=float(val_size), source=source)
        build_once(layout, cut, f"the {mode} layout of {source.describe()}")
    try:
        info = json.loads((layout / LAYOUT_INDEX).read_text(encoding="utf-8"))
        files = {split: layout / entry["file"] for split, entry in info["splits"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged(layout, LAYOUT_INDEX, exc) from None
    return PreparedText(layout, files, info)


def columns_read(source: Any, mode: str, text_field: str = "text", prompt_field: str = "prompt", target_field: str = "target") -> list[str]:
    """The record fields a mode reads (text files have one, ``text``)."""
    text_files = source.hub is None and source.builder("train") == "text"
    if mode == "pairs":
        if text_files:
            raise UserError(f"prompt/target pairs need .jsonl or .parquet records, not text files ({source.describe()})",
                            "write one JSON object per line with the prompt and target fields, or use datamodule=text")
        return [str(prompt_field), str(target_field)]
    return ["text"] if text_files else [str(text_field)]


# ----------------------------------------------------------------------------- 1. tokenize


def _features(mode: str) -> Any:
    import datasets

    ids = datasets.List(datasets.Value("int32")) if hasattr(datasets, "List") else datasets.Sequence(datasets.Value("int32"))
    columns = {"ids": ids} if mode == "lm" else {"prompt_ids": ids, "target_ids": ids}
    return datasets.Features({**columns, "bucket": datasets.Value("float64")})


def _tokenize(staging: Path, *, source: Any, tokenizer: Any, mode: str, columns: list[str], key: str, num_proc: int | None) -> None:
    # Worker processes tokenize one thread each; the variable also keeps `tokenizers` from
    # warning in every forked process that its own thread pool was disabled.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if mode == "lm":
        function = partial(tokenize_lm, tokenizer=tokenizer, column=columns[0], eos=tokenizer.eos_token_id, parent=os.getpid())
    else:
        function = partial(tokenize_pairs, tokenizer=tokenizer, prompt=columns[0], target=columns[1], parent=os.getpid())
    index: dict[str, Any] = {"format": FORMAT, "mode": mode, "columns": columns, "source": source.describe(),
                             "tokenizer": tokenizer.name, "splits": {}}
    wanted = int(num_proc or available_cores())
    start = time.perf_counter()
    for split in source.splits():
        source.check_records(split, columns)
        dataset = source.load(split, cache_dir=staging / "raw")
        source.require_columns(dataset, split, columns)
        procs = max(1, min(wanted, len(dataset) // _MIN_DOCS_PER_PROCESS))
        try:
            out = dataset.map(function, batched=True, batch_size=1000, with_indices=True, num_proc=procs if procs > 1 else None,
                              remove_columns=dataset.column_names, features=_features(mode),
                              cache_file_name=str(staging / f"tokens-{split}.arrow"), new_fingerprint=f"{key[:32]}-{split}",
                              desc=f"tokenizing {split} ({procs} process{'es' if procs > 1 else ''})")
        except Exception as exc:
            if any(isinstance(e, KeyboardInterrupt) for e in causes(exc)):
                raise KeyboardInterrupt from None  # Ctrl-C, which the pool of `datasets` turns into a TimeoutError
            bad = next((e for e in causes(exc) if isinstance(e, BadRecord)), None)
            if bad is None:
                raise
            where = source.describe() if source.hub is not None else f"{source.split_files(split)[0].parent} ({split})"
            raise UserError(f"{where}: {bad}", bad.fix) from None
        files = [Path(f["filename"]).name for f in out.cache_files]
        index["splits"][split] = {"files": files, "documents": len(out), "source_records": len(dataset), "processes": procs}
        del out, dataset
    shutil.rmtree(staging / "raw", ignore_errors=True)  # the raw text's Arrow copy: the tokens are what runs read
    index["seconds"] = round(time.perf_counter() - start, 3)
    (staging / TOKENS_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("tokenized %s in %.1f s: %s", source.describe(), index["seconds"],
             ", ".join(f"{s} {v['documents']} documents" for s, v in index["splits"].items()))


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ----------------------------------------------------------------------------- 2. cut the layout


def numpy_view(array: Any, dtype: str = "int32") -> Any:
    """An Arrow array of ``dtype`` without nulls as a numpy view of its buffer (no copy; unlike
    ``Array.to_numpy``, whose first call imports pandas: half a second of every run's start)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _record_batches(tokens: Path, split: str) -> Iterator[Any]:
    import pyarrow as pa

    name = TOKENS_INDEX
    try:
        for name in json.loads((tokens / TOKENS_INDEX).read_text(encoding="utf-8"))["splits"][split]["files"]:
            with pa.memory_map(str(tokens / name)) as source:
                yield from pa.ipc.open_stream(source)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:  # its marker vouched for it
        raise damaged(tokens, name, exc) from None


def _cut(staging: Path, *, tokens: Path, mode: str, block_size: int, val_size: float, source: Any) -> None:
    have = json.loads((tokens / TOKENS_INDEX).read_text(encoding="utf-8"))["splits"]
    plan: dict[str, tuple[str, Callable[[Any], Any] | None]] = {}
    for split in SPLITS:
        if split in have:  # a split the corpus has is cut from its own documents
            held_out = split == "train" and "val" not in have and val_size > 0
            plan[split] = (split, (lambda b: b >= val_size) if held_out else None)
        elif split == "val":
            plan[split] = ("train", lambda b: b < val_size)
    splits: dict[str, dict] = {}
    for split, (origin, keep) in plan.items():
        write = _pack if mode == "lm" else _copy_pairs
        splits[split] = {"file": f"{split}.arrow", "from": origin, **write(_record_batches(tokens, origin), keep, block_size, staging / f"{split}.arrow")}
    if "test" not in splits:
        splits["test"] = {**splits["val"], "same_as": "val"}
    unit, count = ("blocks", "blocks") if mode == "lm" else ("examples", "examples")
    for split in ("train", "val", *(["test"] if "test" in have else [])):
        if splits[split][count] == 0:
            held_out = split in ("val", "train") and "val" not in have  # the split is cut by val_size
            held = f"the {val_size:g} of documents held out" if split == "val" and held_out else f"the {split} split"
            fix = ("raise datamodule.val_size, give val files (datamodule.files='{train: ..., val: ...}')" if held_out and split == "val"
                   else "lower datamodule.val_size" if held_out else f"give the {split} split more text")
            if held_out and split == "val" and have["train"].get("documents", 2) < 2:  # nothing to hold out of one document
                fix = ("the train files hold one document (a .txt file without blank lines is one paragraph): read one per "
                       "line (datamodule.sample_by=line), or give val files (datamodule.files='{train: ..., val: ...}')")
            raise UserError(
                f"{held} of {source.describe()} gives no {unit}"
                + (f" ({splits[split]['tokens']} tokens, fewer than block_size={block_size})" if mode == "lm" else ""),
                fix + (" or lower datamodule.block_size" if mode == "lm" else ""),
            )
    info = {"format": FORMAT, "mode": mode, "block_size": block_size if mode == "lm" else None,
            "val_size": val_size if "val" not in have else None, "splits": splits}
    (staging / LAYOUT_INDEX).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _filtered(batch: Any, keep: Callable[[Any], Any] | None) -> Any:
    import pyarrow as pa

    if keep is None:
        return batch
    return batch.filter(pa.array(keep(numpy_view(batch.column("bucket"), "float64"))))


def _pack(batches: Iterator[Any], keep: Callable | None, block_size: int, path: Path) -> dict:
    """Documents (ids ending in <eos>) -> consecutive blocks of ``block_size`` ids, no padding."""
    import numpy as np
    import pyarrow as pa

    schema = pa.schema([pa.field("input_ids", pa.list_(pa.int32(), block_size))])
    carry = np.empty(0, dtype=np.int32)
    blocks = documents = tokens = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            ids = _filtered(batch, keep).column("ids")
            documents += len(ids)
            flat = numpy_view(ids.flatten())
            tokens += len(flat)
            data = np.concatenate([carry, flat]) if len(carry) else flat
            full = len(data) // block_size
            if full:
                values = pa.array(data[: full * block_size])
                writer.write_batch(pa.record_batch([pa.FixedSizeListArray.from_arrays(values, block_size)], schema=schema))
                blocks += full
            carry = data[full * block_size:].copy()
    return {"blocks": blocks, "documents": documents, "tokens": tokens, "dropped_tokens": int(len(carry))}


def _copy_pairs(batches: Iterator[Any], keep: Callable | None, block_size: int, path: Path) -> dict:
    import pyarrow as pa

    schema = pa.schema([pa.field("prompt_ids", pa.list_(pa.int32())), pa.field("target_ids", pa.list_(pa.int32()))])
    examples = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            batch = _filtered(batch, keep)
            writer.write_batch(pa.record_batch([batch.column("prompt_ids"), batch.column("target_ids")], schema=schema))
            examples += batch.num_rows
    return {"examples": examples}

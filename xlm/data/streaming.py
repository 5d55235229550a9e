"""Streaming: examples tokenized on the fly from a corpus too large to cache, sharded exactly.

Every (rank, dataloader worker) pair is one of ``world_size * num_workers`` readers. Reader
``k`` takes ``datasets.distributed.split_dataset_by_node(stream, rank=k, world_size=N)``,
which gives it whole files when the file count divides ``N`` and every ``N``-th record
otherwise: each document is read by exactly one reader, none is skipped. The sharding is
done here, once, and the stream is read with ``IterableDataset.iter`` (which does not shard
again by worker, as iterating it directly inside a worker would).

A reader packs its own documents into blocks. A finite pass (validation, one epoch) ends
with the reader's last, shorter block, so every token of every document is seen exactly
once; a repeating pass (training) carries that rest into the next epoch instead. Training
repeats forever and ``trainer.max_steps`` ends it: readers hold different amounts of text,
and under DDP a rank that ran out first would wait for its peers' gradients forever.

Held-out validation documents are chosen by the hash of their text
(`xlm.data.prepare.bucket`), exactly as the cached path chooses them.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator

from torch.utils.data import IterableDataset

from xlm.data.prepare import bucket
from xlm.data.sources import SPLIT_FIX, too_long
from xlm.errors import UserError


def distributed_rank() -> tuple[int, int]:
    """``(rank, world_size)`` of this process (0, 1 outside torch.distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class StreamedExamples(IterableDataset):
    """Examples of ``split`` read from ``source`` as a stream.

    ``origin`` is the source split read (``train`` for a held-out ``val``); ``keep`` is
    ``"below"`` (documents whose bucket is under ``val_size``), ``"above"`` or None (all).
    """

    def __init__(self, source: Any, tokenizer: Any, *, origin: str, keep: str | None, val_size: float, mode: str,
                 columns: list[str], block_size: int, repeat: bool, shuffle_buffer: int = 0, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None, documents_per_batch: int = 256,
                 max_prompt_tokens: int | None = None, max_target_tokens: int | None = None) -> None:
        super().__init__()
        if rank is None or world_size is None:
            rank, world_size = distributed_rank()
        self.source, self.tokenizer = source, tokenizer
        self.origin, self.keep, self.val_size = origin, keep, float(val_size)
        self.mode, self.columns, self.block_size = mode, list(columns), int(block_size)
        self.repeat, self.shuffle_buffer, self.seed = repeat, int(shuffle_buffer), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.documents_per_batch = int(documents_per_batch)
        self.max_prompt_tokens, self.max_target_tokens = max_prompt_tokens, max_target_tokens

    def reader(self) -> tuple[int, int]:
        """``(index, count)`` of this reader among all ranks' dataloader workers."""
        from torch.utils.data import get_worker_info

        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker is not None else (1, 0)
        return self.rank * workers + worker_id, self.world_size * workers

    def documents(self, epoch: int) -> Iterator[list]:
        """This reader's documents of one pass, in batches: texts (LM) or (prompt, target) pairs."""
        from datasets.distributed import split_dataset_by_node

        index, count = self.reader()
        stream = split_dataset_by_node(self.source.load(self.origin, streaming=True), rank=index, world_size=count)
        if self.shuffle_buffer > 0:  # after the split, which alone decides who reads what
            stream = stream.shuffle(seed=self.seed + epoch, buffer_size=self.shuffle_buffer)
        try:
            for batch in stream.iter(batch_size=self.documents_per_batch):
                yield self._kept(batch)
        except UserError:
            raise
        except Exception as exc:
            error = self.source.read_error(self.origin, exc) if self.source.hub is None else exc
            if error is exc:
                raise
            raise error from exc

    def _kept(self, batch: dict) -> list:
        missing = [c for c in self.columns if c not in batch]
        if missing:
            raise UserError(f"{self.source.describe()} ({self.origin}): the records have no field '{missing[0]}' (they have: {', '.join(batch)})",
                            "name the field: datamodule.text_field=... (or prompt_field / target_field for pairs)")
        if self.mode == "lm":
            items = [t for t in batch[self.columns[0]] if isinstance(t, str) and t.strip()]
            key = lambda text: text  # noqa: E731
        else:
            items = [(p, t) for p, t in zip(batch[self.columns[0]], batch[self.columns[1]]) if isinstance(p, str) and isinstance(t, str)]
            key = lambda pair: pair[0] + "\x00" + pair[1]  # noqa: E731
        for item in items:
            if (why := too_long(item) if self.mode == "lm" else too_long(item[0]) or too_long(item[1])) is not None:
                raise UserError(f"{self.source.describe()} ({self.origin}): {why}", SPLIT_FIX)
        if self.keep == "below":
            return [item for item in items if bucket(key(item)) < self.val_size]
        if self.keep == "above":
            return [item for item in items if bucket(key(item)) >= self.val_size]
        return items

    def __iter__(self) -> Iterator[dict]:
        carry: list[int] = []
        for epoch in itertools.count() if self.repeat else (0,):
            for items in self.documents(epoch):
                if not items:
                    continue
                if self.mode == "pairs":
                    yield from self._pairs(items)
                    continue
                for ids in self.tokenizer.encode_batch(items):
                    carry.extend(ids)
                    carry.append(self.tokenizer.eos_token_id)
                while len(carry) >= self.block_size:
                    yield {"prompt_ids": [], "target_ids": carry[: self.block_size], "add_eos": False}
                    del carry[: self.block_size]
        if carry and not self.repeat:
            yield {"prompt_ids": [], "target_ids": carry, "add_eos": False}

    def _pairs(self, pairs: list) -> Iterator[dict]:
        prompts = self.tokenizer.encode_batch([p for p, _ in pairs])
        targets = self.tokenizer.encode_batch([t for _, t in pairs])
        for prompt, target in zip(prompts, targets):
            if self.max_prompt_tokens is not None:
                prompt = prompt[len(prompt) - min(len(prompt), int(self.max_prompt_tokens)):]
            if self.max_target_tokens is not None:
                target = target[: int(self.max_target_tokens)]
            yield {"prompt_ids": prompt, "target_ids": target}

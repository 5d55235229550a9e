"""``xlm.data.datamodule.TextDataModule``: the ``datamodule=text*`` configs.

A :class:`~xlm.datamodule.TaskDataModule` whose examples come from a text corpus instead of
a generated task, so batching, ``debug=overfit`` and the loaders behave as they do for the
star tasks. Two modes:

- ``lm``: documents joined by ``<eos>`` and packed into blocks of ``block_size`` tokens
  (every model trains on them as plain language modelling: the collators of
  ``collator=default_<model>``);
- ``pairs``: one example per record, ``prompt_field`` -> ``target_field`` (conditional models:
  ``collator=seq2seq_<model>``).

Cached (default): tokenized once per corpus content and tokenizer (`xlm.data.prepare`),
then memory-mapped. ``streaming=true``: tokenized on the fly, sharded over ranks and
workers (`xlm.data.streaming`). `xlm generate` continues the first ``predict_prompt_tokens``
of ``predict_examples`` blocks of ``predict_split`` (LM), or answers its prompts (pairs).
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import DataLoader

from xlm.data.sources import TextSource
from xlm.datamodule import TaskDataModule
from xlm.errors import UserError

log = logging.getLogger(__name__)


class TextDataModule(TaskDataModule):
    def __init__(
        self,
        tokenizer: Any,
        collator: Callable[[list], dict],
        files: Any = None,
        hub: Any = None,
        sample_by: str = "paragraph",
        mode: str = "lm",
        text_field: str = "text",
        prompt_field: str = "prompt",
        target_field: str = "target",
        block_size: int = 128,
        max_prompt_tokens: int | None = None,
        max_target_tokens: int | None = None,
        val_size: float = 0.01,
        streaming: bool = False,
        shuffle_buffer: int = 10000,
        num_proc: int | None = None,
        cache_dir: str | None = None,
        save_tokenizer_to: str | None = None,
        predict_examples: int = 16,
        predict_prompt_tokens: int = 32,
        predict_target_tokens: int = 64,
        seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        predict_split: str = "val",
        overfit_examples: int | None = None,
        overfit_repeats: int = 100,
    ) -> None:
        super().__init__(task=None, tokenizer=tokenizer, collator=collator, batch_size=batch_size, eval_batch_size=eval_batch_size,
                         num_workers=num_workers, shuffle=shuffle, predict_split=predict_split,
                         overfit_examples=overfit_examples, overfit_repeats=overfit_repeats)
        self.source = TextSource(files, hub, sample_by)
        if isinstance(block_size, bool) or not isinstance(block_size, (int, float)) or block_size != int(block_size):
            raise UserError(f"datamodule.block_size={block_size!r} is not a whole number of tokens",  # 1.5 ran as 1, 16.9 as 16
                            "give one: datamodule.block_size=128")
        self.mode, self.block_size = mode, int(block_size)
        self.fields = {"text_field": text_field, "prompt_field": prompt_field, "target_field": target_field}
        self.max_prompt_tokens, self.max_target_tokens = max_prompt_tokens, max_target_tokens
        self.val_size, self.streaming = float(val_size), bool(streaming)
        if num_proc is not None and (isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1):
            raise UserError(f"datamodule.num_proc={num_proc!r} is not a number of processes",
                            "give a whole number of at least 1, or null for one per core")
        self.shuffle_buffer, self.num_proc, self.seed = int(shuffle_buffer), num_proc, int(seed)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.save_tokenizer_to = save_tokenizer_to
        self.predict_examples, self.predict_prompt_tokens = int(predict_examples), int(predict_prompt_tokens)
        self.predict_target_tokens = int(predict_target_tokens)
        self._prepared: Any = None

    # ------------------------------------------------------------------ the cached path

    def prepare_data(self) -> None:
        # Runs once per node before setup: the only place that writes the caches and the run's tokenizer copy.
        if self.save_tokenizer_to and hasattr(self.tokenizer, "save"):
            self.tokenizer.save(self.save_tokenizer_to)
        if not self.streaming:
            self.prepared()

    def prepared(self) -> Any:
        """The split files of the cached path (tokenized and cut on first use)."""
        if self._prepared is None:
            from xlm.data.prepare import prepare
            from xlm.paths import data_dir

            root = self.cache_dir or Path(data_dir()) / "text"
            self._prepared = prepare(self.source, self.tokenizer, mode=self.mode, block_size=self.block_size,
                                     val_size=self.val_size, num_proc=self.num_proc, root=root, **self.fields)
        return self._prepared

    def examples_of(self, split: str) -> Any:
        if self.streaming:  # only overfitting and prediction ask for examples: the first ones suffice
            from xlm.data.arrow_rows import blocks_per_continuation

            span = blocks_per_continuation(self.block_size, self.predict_prompt_tokens, self.predict_target_tokens)
            wanted = max(int(self.overfit_examples or 0), self.predict_examples * (span if self.mode == "lm" else 1))
            return list(itertools.islice(self._stream(split, repeat=False), wanted))
        path = self.prepared().files[split]
        if self.mode == "lm":
            from xlm.data.arrow_rows import PackedBlocks

            return PackedBlocks(path, ids_below=len(self.tokenizer))
        from xlm.data.arrow_rows import PromptTargetPairs

        pairs = PromptTargetPairs(path, self.max_prompt_tokens, self.max_target_tokens, ids_below=len(self.tokenizer))
        if (cut := pairs.truncated()) and split == "train":
            log.info("%d of %d train examples are longer than max_prompt_tokens=%s / max_target_tokens=%s and are cut",
                     cut, len(pairs), self.max_prompt_tokens, self.max_target_tokens)
        return pairs

    # ------------------------------------------------------------------ loaders

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if self.num_workers > 0:
            # One tokenizer thread per worker; also keeps `tokenizers` from warning in each forked worker.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if not self.streaming or self.overfit_examples:
            return super()._loader(split, batch_size, shuffle)
        return DataLoader(self._stream(split, repeat=split == "train", shuffle=shuffle), batch_size=batch_size,
                          collate_fn=self.collator, num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def _stream(self, split: str, repeat: bool, shuffle: bool = False) -> Any:
        from xlm.data.prepare import columns_read
        from xlm.data.streaming import StreamedExamples, distributed_rank

        have = self.source.splits()
        if split in have:
            origin, keep = split, ("above" if split == "train" and "val" not in have and self.val_size > 0 else None)
        else:  # val (and test without its own split): the documents held out from train
            origin, keep = "train", "below"
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else distributed_rank()
        return StreamedExamples(
            self.source, self.tokenizer, origin=origin, keep=keep, val_size=self.val_size, mode=self.mode,
            columns=columns_read(self.source, self.mode, **self.fields), block_size=self.block_size, repeat=repeat,
            shuffle_buffer=self.shuffle_buffer if shuffle else 0, seed=self.seed, rank=rank, world_size=world,
            max_prompt_tokens=self.max_prompt_tokens, max_target_tokens=self.max_target_tokens,
        )

    def predict_dataloader(self) -> DataLoader:
        examples = self.examples(self.predict_split)
        if self.mode == "lm":
            from xlm.data.arrow_rows import continuation_examples

            chosen = continuation_examples(examples, self.predict_examples, self.predict_prompt_tokens, self.predict_target_tokens)
        else:
            chosen = list(examples[: self.predict_examples])
        return DataLoader(chosen, batch_size=self.eval_batch_size, shuffle=False, collate_fn=self.collator)

"""The LightningDataModule over a task's splits: tokenized examples in, collated batches out.

The task (e.g. :class:`xlm.tasks.star.StarGraphTask`) owns the data; the collator (named by
``cfg.collator``, given by the model) owns the batch layout. This module only decides which
examples go into which loader, including the overfit mode of ``debug=overfit``.
"""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
from torch.utils.data import DataLoader


class TaskDataModule(L.LightningDataModule):
    """Batches of one task for fit, validate, test and predict.

    ``overfit_examples=N`` memorises the first N training examples: every training batch is
    those N examples (the epoch repeats them ``overfit_repeats`` times, so one epoch is that
    many identical steps) and validation, test and prediction all run on the same N, so
    their metrics measure memorisation.
    """

    def __init__(
        self,
        task: Any,
        tokenizer: Any,
        collator: Callable[[list], dict],
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        predict_split: str = "test",
        overfit_examples: int | None = None,
        overfit_repeats: int = 100,
    ) -> None:
        super().__init__()
        self.task, self.tokenizer, self.collator = task, tokenizer, collator
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.shuffle = shuffle
        self.predict_split = predict_split
        self.overfit_examples = overfit_examples
        self.overfit_repeats = int(overfit_repeats)
        self._examples: dict[str, list] = {}

    def prepare_data(self) -> None:
        # Runs once per node before setup: the only place that may write the task cache.
        self.task.prepare()

    def examples(self, split: str) -> list:
        """The tokenized examples a split's loader serves (the memorised ones when overfitting)."""
        if split not in self._examples:
            if self.overfit_examples:
                train = self.examples_of("train")[: int(self.overfit_examples)]
                self._examples[split] = train * self.overfit_repeats if split == "train" else list(train)
            else:
                self._examples[split] = self.examples_of(split)
        return self._examples[split]

    def examples_of(self, split: str) -> list:
        return self.task.examples(split, self.tokenizer)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.examples(split),
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=self.collator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        # Overfitting must see the same batch every step, so no shuffling there.
        return self._loader("train", self.batch_size, self.shuffle and not self.overfit_examples)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_split, self.eval_batch_size, False)

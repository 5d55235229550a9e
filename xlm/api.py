"""The model author's API: the four things an xlm model implements.

A model is a plain ``torch.nn.Module`` whose ``forward(input_ids, attention_mask=None, **kw)``
returns logits. Around it a model supplies a :class:`Collator` (examples -> batch), a
:class:`LossFunction` (batch -> loss dict) and a :class:`Predictor` (batch -> predictions).
Batches and outputs are ``TypedDict``s declared in the model's ``types.py``.

The :class:`xlm.harness.Harness` builds all of them from the composed config and hands the
loss function and the predictor the model and the tokenizer, so they can run the network
themselves (a diffusion loss samples a masking rate before calling the model; a predictor
decodes step by step). This module is deliberately small: every model, the template and the
harness depend on it, so it changes rarely.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, List, NotRequired, TypedDict, TypeVar

from torch import Tensor, nn

BatchT = TypeVar("BatchT", bound=dict)
LossDictT = TypeVar("LossDictT", bound=dict)
PredictionDictT = TypeVar("PredictionDictT", bound=dict)


class Example(TypedDict):
    """One tokenized task example, as the datamodule hands it to a collator.

    ``prompt_ids`` is the conditioning (for the star task: the graph, the start and the
    goal, ending in the separator token); ``target_ids`` is what the model must produce (the
    path). Neither carries bos, eos or padding: adding those is the collator's job.
    ``add_eos`` (absent: True) is False for a block of packed text (`xlm.data`): the block is
    cut from a longer stream and holds its own ``<eos>`` between documents, so the collator
    must not end it with another.
    """

    prompt_ids: List[int]
    target_ids: List[int]
    add_eos: NotRequired[bool]


class LossDict(TypedDict):
    """What every loss function returns at least: the scalar to optimise and its per-example parts."""

    loss: Tensor  # shape ()
    batch_loss: Tensor  # shape (batch,)


class PredictionDict(TypedDict):
    """What every predictor returns at least: decoded text and the generated ids."""

    text: List[str]
    ids: Tensor  # shape (batch, generated_len), padded with the tokenizer's pad id


class Collator(ABC):
    """Turns a list of :class:`Example` into a batch (a dict of tensors)."""

    def __init__(self, tokenizer: Any, **kwargs: Any) -> None:
        self.tokenizer = tokenizer
        _say_ignored(self, "Collator", kwargs)

    @abstractmethod
    def __call__(self, examples: List[Example]) -> dict:
        """Pad, add special tokens and stack ``examples`` into the model's batch type."""


class LossFunction(ABC, Generic[BatchT, LossDictT]):
    """Computes the training loss of a batch; given the model and tokenizer by the harness."""

    def __init__(self, model: nn.Module | None = None, tokenizer: Any = None, **kwargs: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        _say_ignored(self, "LossFunction", kwargs)

    @abstractmethod
    def loss_fn(self, batch: BatchT, **kwargs: Any) -> LossDictT:
        """Return at least ``loss`` (scalar) and ``batch_loss`` (one value per example)."""

    def __call__(self, batch: BatchT, **kwargs: Any) -> LossDictT:
        return self.loss_fn(batch, **kwargs)


class Predictor(ABC, Generic[BatchT, PredictionDictT]):
    """Generates outputs for a batch; given the model and tokenizer by the harness."""

    def __init__(self, model: nn.Module | None = None, tokenizer: Any = None, **kwargs: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        _say_ignored(self, "Predictor", kwargs)

    @abstractmethod
    def predict(self, batch: BatchT, **kwargs: Any) -> PredictionDictT:
        """Return at least ``text`` (one string per example) and ``ids`` (generated token ids)."""

    def __call__(self, batch: BatchT, **kwargs: Any) -> PredictionDictT:
        return self.predict(batch, **kwargs)


def _say_ignored(obj: object, base: str, kwargs: dict) -> None:
    """Config keys that reached the base class unused: a subclass that passes ``**kwargs`` on
    would otherwise drop a misspelt key (`max_new_tokns: 6`) without a word, and run with
    its default."""
    if kwargs:
        import logging

        logging.getLogger("xlm.api").warning(
            f"Warning: {type(obj).__name__} ignores the config key(s) {sorted(kwargs)}: neither it nor xlm.api.{base} "
            "takes them (misspelt? `--cfg job` prints the composed config)")


__all__ = [
    "Collator",
    "Example",
    "LossDict",
    "LossFunction",
    "PredictionDict",
    "Predictor",
]

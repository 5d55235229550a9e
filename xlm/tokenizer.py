"""The number tokenizer of the synthetic tasks, and the ``${tokenizer:ATTR}`` config resolver.

Task data are space-separated integers (node ids of a star graph), so the vocabulary is
five special tokens followed by the numbers ``0 .. num_ids-1``. The special ids are fixed
(``<pad>`` is 0) so that every model, collator and metric can rely on them.

The resolver lets a model config size its embedding from the task it is trained on
(``num_embeddings: ${tokenizer:full_vocab_size}``) without repeating the vocabulary size.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Iterable, Sequence

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<mask>", "<sep>")


class NumberTokenizer:
    """Maps the tokens ``<pad> <bos> <eos> <mask> <sep> 0 1 .. num_ids-1`` to ids ``0 ..``."""

    pad_token, bos_token, eos_token, mask_token, sep_token = SPECIAL_TOKENS
    pad_token_id, bos_token_id, eos_token_id, mask_token_id, sep_token_id = range(len(SPECIAL_TOKENS))

    def __init__(self, num_ids: int) -> None:
        if int(num_ids) < 1:
            raise ValueError(f"num_ids must be at least 1, got {num_ids}")
        self.num_ids = int(num_ids)
        self._special = {token: i for i, token in enumerate(SPECIAL_TOKENS)}

    @property
    def num_special_tokens(self) -> int:
        return len(SPECIAL_TOKENS)

    @property
    def full_vocab_size(self) -> int:
        """Size of the embedding table a model needs: special tokens plus numbers."""
        return len(SPECIAL_TOKENS) + self.num_ids

    @property
    def special_token_ids(self) -> list[int]:
        return list(range(len(SPECIAL_TOKENS)))

    def number_to_id(self, number: int) -> int:
        if not 0 <= number < self.num_ids:
            raise ValueError(f"number {number} is outside the vocabulary 0..{self.num_ids - 1}")
        return len(SPECIAL_TOKENS) + number

    def token_to_id(self, token: str) -> int:
        if token in self._special:
            return self._special[token]
        try:
            return self.number_to_id(int(token))
        except ValueError:
            raise ValueError(f"unknown token '{token}' (expected a special token or an integer)") from None

    def id_to_token(self, token_id: int) -> str:
        token_id = int(token_id)
        if 0 <= token_id < len(SPECIAL_TOKENS):
            return SPECIAL_TOKENS[token_id]
        if len(SPECIAL_TOKENS) <= token_id < self.full_vocab_size:
            return str(token_id - len(SPECIAL_TOKENS))
        raise ValueError(f"id {token_id} is outside the vocabulary of size {self.full_vocab_size}")

    def encode(self, text: str) -> list[int]:
        """Ids of the whitespace-separated tokens of ``text`` (no special tokens are added)."""
        return [self.token_to_id(token) for token in text.split()]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Space-separated tokens of ``ids``; ``skip_special_tokens`` drops pad, bos, eos, ..."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        tokens = (self.id_to_token(i) for i in ids if not (skip_special_tokens and int(i) < len(SPECIAL_TOKENS)))
        return " ".join(tokens)

    def batch_decode(self, batch: Iterable[Sequence[int]], skip_special_tokens: bool = False) -> list[str]:
        batch = batch.tolist() if hasattr(batch, "tolist") else batch
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in batch]

    def __len__(self) -> int:
        return self.full_vocab_size

    def __repr__(self) -> str:
        return f"NumberTokenizer(num_ids={self.num_ids})"


# ----------------------------------------------------------------------------- resolvers

_TOKENIZERS: dict[str, Any] = {}


def tokenizer_from_config(node: Any) -> Any:
    """Build (once per distinct config) the tokenizer a ``tokenizer`` config node describes.

    Cached because the resolver runs for every interpolation that mentions it; imports the
    target directly so that resolving a config never needs Hydra.
    """
    from omegaconf import DictConfig, OmegaConf

    # throw_on_missing: a `???` (datamodule.files of a text run) must not reach the tokenizer as text
    spec = OmegaConf.to_container(node, resolve=True, throw_on_missing=True) if isinstance(node, DictConfig) else dict(node)
    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _TOKENIZERS:
        kwargs = dict(spec)
        module_name, _, attr = kwargs.pop("_target_").rpartition(".")
        _TOKENIZERS[key] = getattr(importlib.import_module(module_name), attr)(**kwargs)
    return _TOKENIZERS[key]


def _tokenizer_resolver(attr: str, *, _root_: Any) -> Any:
    from omegaconf.errors import MissingMandatoryValue

    node = _root_.get("tokenizer")
    if node is None:
        raise ValueError("${tokenizer:" + attr + "} needs a 'tokenizer' node in the config (set by the datamodule)")
    try:
        return getattr(tokenizer_from_config(node), attr)
    except MissingMandatoryValue:
        key = _missing_key(node, _root_)
        from xlm.errors import UserError

        raise UserError(f"{key} has no value (???), and the tokenizer needs it", f"give it one: {key}=VALUE") from None


def _missing_key(node: Any, root: Any) -> str:
    """The dotted key whose ``???`` the tokenizer node needs: one it interpolates, or its own."""
    import re

    from omegaconf import OmegaConf

    def leaves(value: Any, prefix: str = "") -> Any:
        if isinstance(value, dict):
            for key, child in value.items():
                yield from leaves(child, f"{prefix}{key}.")
        else:
            yield prefix[:-1], value

    def get(value: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    raw = OmegaConf.to_container(root, resolve=False)
    for path, value in leaves(OmegaConf.to_container(node, resolve=False)):
        match = re.fullmatch(r"\$\{([\w.]+)\}", str(value))
        if match and get(raw, match.group(1)) == "???":
            return match.group(1)
        if value == "???":
            # Resolving the whole config in place may already have copied an interpolated
            # `???` here: name the node elsewhere that has the same key and no value either.
            elsewhere = [f"{top}.{path}" for top in raw if top != "tokenizer" and get(raw[top], path) == "???"]
            return elsewhere[0] if elsewhere else f"tokenizer.{path}"
    return "a tokenizer setting"


def register_resolvers() -> None:
    """Register xlm's resolvers, ``${tokenizer:ATTR}`` and ``${xlm.data_dir:}`` (see
    `xlm.paths.data_dir`); safe to call more than once."""
    from omegaconf import OmegaConf

    from xlm.paths import data_dir

    if not OmegaConf.has_resolver("tokenizer"):
        OmegaConf.register_new_resolver("tokenizer", _tokenizer_resolver)
    if not OmegaConf.has_resolver("xlm.data_dir"):
        OmegaConf.register_new_resolver("xlm.data_dir", data_dir)

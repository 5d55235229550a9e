"""A byte-level BPE tokenizer trained on the corpus itself, with `tokenizers`.

Byte-level (GPT-2's scheme): every string, in any script, is encoded without unknown
tokens, and decoding gives back the exact text. The special tokens ``<pad> <bos> <eos>
<mask>`` are ids 0-3. :func:`corpus_tokenizer` is what ``tokenizer=corpus_bpe`` runs: it
trains once per corpus content and settings and keeps the result in the user's data folder,
so every later run (and every DDP rank) loads it in milliseconds.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from xlm.data.text_tokenizer import DEFAULT_TOKENS, ROLES, TextTokenizer
from xlm.errors import UserError

log = logging.getLogger(__name__)
SPECIAL_TOKENS = tuple(DEFAULT_TOKENS[r] for r in ROLES)
BYTE_ALPHABET = 256
MAX_VOCAB = 1_000_000
# The longest piece BPE learns merges in (bytes): the byte-level split keeps a run of letters
# or digits whole, and the trainer's cost grows with a piece's length times the merges made, so
# a 5 MB line without a space (DNA, base64, minified JSON) kept it busy for minutes. Longer
# runs are cut into pieces of this length; no ordinary word or number comes near it.
LONGEST_PIECE = 256


def train_bpe(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2, name: str = "bpe") -> TextTokenizer:
    """A byte-level BPE tokenizer of at most ``vocab_size`` tokens learned from ``texts``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    smallest = BYTE_ALPHABET + len(SPECIAL_TOKENS) + 1
    if int(vocab_size) < smallest:
        raise UserError(f"vocab_size={vocab_size} is too small for a byte-level BPE tokenizer",
                        f"use at least {smallest} (256 bytes, the special tokens and one merge)")
    if int(vocab_size) > MAX_VOCAB:  # `tokenizers` allocates for all of it up front: 2**31 asked for 141 GB and aborted
        raise UserError(f"vocab_size={vocab_size} is larger than xlm trains ({MAX_VOCAB:,})",
                        "use a vocabulary of at most a million tokens (large models use 32,000 to 256,000)")
    if int(min_frequency) < 0:
        raise UserError(f"min_frequency={min_frequency} is negative", "use 0 or more (2: a merge must be seen twice)")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        pre_tokenizers.Split(Regex(f".{{1,{LONGEST_PIECE}}}"), behavior="isolated"),  # ByteLevel leaves no newline
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size), min_frequency=int(min_frequency), special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    counted = _Counted(texts)
    tokenizer.train_from_iterator(counted, trainer)
    if counted.documents == 0:
        raise UserError(f"no text to train the tokenizer '{name}' on (every document is empty)", "check the corpus files and the text field")
    trained = TextTokenizer.from_tokenizer(tokenizer, name, roles=DEFAULT_TOKENS)
    trained.documents, trained.characters = counted.documents, counted.characters
    return trained


class _Counted:
    """The texts, counted on the way through (the trainer consumes an iterator once)."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts, self.documents, self.characters = texts, 0, 0

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.documents += 1
            self.characters += len(text)
            yield text


def corpus_tokenizer(files: Any = None, hub: Any = None, sample_by: str = "paragraph", mode: str = "lm",
                     text_field: str = "text", prompt_field: str = "prompt", target_field: str = "target",
                     streaming: bool = False, vocab_size: int = 8192, min_frequency: int = 2,
                     max_chars: int | None = None, cache_dir: str | None = None) -> TextTokenizer:
    """The byte-level BPE tokenizer of a corpus's train split, trained on first use and cached.

    It reads the fields the datamodule reads (`xlm.data.prepare.columns_read`). The cache key
    is the corpus's content (file digests, or the hub dataset's fingerprint), those fields and
    the training settings: a changed corpus trains a new tokenizer.
    """
    from xlm.data.fingerprint import digest_of
    from xlm.data.prepare import columns_read
    from xlm.data.sources import TextSource
    from xlm.data.store import build_once
    from xlm.paths import data_dir

    source = TextSource(files, hub, sample_by)
    if source.hub is not None and streaming:
        raise UserError(f"tokenizer=corpus_bpe trains on the corpus in the cache, but {source.describe()} is streamed",
                        "use a ready tokenizer: tokenizer=hf tokenizer.path=gpt2 (or a folder from `xlm tokenizer train`)")
    root = Path(cache_dir) if cache_dir else Path(data_dir()) / "tokenizers"
    columns = columns_read(source, mode, text_field, prompt_field, target_field)
    settings = {"vocab_size": int(vocab_size), "min_frequency": int(min_frequency), "max_chars": max_chars, "columns": columns}
    key = digest_of({"trainer": "byte_level_bpe/2", "source": source.identity("train", root), **settings})
    folder = root / f"bpe{int(vocab_size)}-{key[:16]}"  # the key alone: the same text elsewhere is the same tokenizer

    def make(staging: Path) -> None:
        log.info("training a byte-level BPE tokenizer of %d tokens on %s (once: later runs load it from %s)",
                 int(vocab_size), source.describe(), folder)
        start = time.perf_counter()
        trained = train_bpe(source.iter_texts("train", columns, max_chars), vocab_size, min_frequency, name=str(folder))
        trained.save(staging)
        log.info("trained a byte-level BPE tokenizer on %s (%d documents, %d characters; %d tokens) in %.1f s -> %s",
                 source.describe(), trained.documents, trained.characters, trained.full_vocab_size,
                 time.perf_counter() - start, folder)

    build_once(folder, make, f"the tokenizer of {source.describe()}")
    try:
        return TextTokenizer(str(folder))
    except UserError as exc:  # its marker vouched for it: the cache is damaged, not the user's folder
        raise UserError(exc.what, f"delete {folder}; the next run trains it again") from None

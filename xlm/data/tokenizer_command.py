"""``xlm tokenizer train``: a byte-level BPE tokenizer trained on text files (or a cached hub
dataset), saved as a folder that ``tokenizer=hf tokenizer.path=DIR`` (and transformers'
AutoTokenizer) loads. Imports neither torch nor `datasets` for local files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xlm.errors import UserError

USAGE_EXAMPLE = "xlm tokenizer train 'corpus/**/*.txt' --vocab-size 8192 --out my_tokenizer"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlm tokenizer", description="Tokenizers for text corpora.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser("train", help="train a byte-level BPE tokenizer on text files or a cached hub dataset",
                                description=f"Train a byte-level BPE tokenizer (special tokens <pad> <bos> <eos> <mask>). "
                                            f"Example: {USAGE_EXAMPLE}")
    train.add_argument("files", nargs="*", help="files, folders or globs of .txt/.md/.jsonl/.parquet (quote globs)")
    train.add_argument("--hub", metavar="NAME", help="a hub dataset in the Hugging Face cache instead of files")
    train.add_argument("--hub-config", metavar="CONFIG", help="the hub dataset's config")
    train.add_argument("--hub-split", metavar="SPLIT", default="train", help="the hub split to read (default: train)")
    train.add_argument("--out", metavar="DIR", default="tokenizer", help="folder to write tokenizer.json into (default: ./tokenizer)")
    train.add_argument("--vocab-size", type=int, default=8192, help="tokens in the vocabulary, special tokens included (default: 8192)")
    train.add_argument("--min-frequency", type=int, default=2, help="merge only pairs seen at least this often (default: 2)")
    train.add_argument("--field", action="append", metavar="NAME", help="the record field(s) of .jsonl/.parquet/hub text (default: text)")
    train.add_argument("--sample-by", choices=("paragraph", "line", "document"), default="paragraph", help=".txt documents (default: paragraph)")
    train.add_argument("--max-chars", type=int, default=None, help="train on the first N characters only")
    return parser


def tokenizer_command(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "train":
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    from xlm.data.bpe import train_bpe
    from xlm.data.sources import TextSource

    if bool(args.files) == bool(args.hub):
        raise UserError("xlm tokenizer train needs text files or --hub NAME (one of them)", f"e.g. {USAGE_EXAMPLE}")
    hub = {"name": args.hub, "config": args.hub_config, "splits": {"train": args.hub_split, "val": None}} if args.hub else None
    source = TextSource(list(args.files) or None, hub, args.sample_by)
    columns = ["text"] if source.hub is None and source.builder("train") == "text" else (args.field or ["text"])
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder", "give a folder to write tokenizer.json into")
    start = time.perf_counter()
    tokenizer = train_bpe(source.iter_texts("train", columns, args.max_chars), args.vocab_size, args.min_frequency, name=str(out))
    try:
        tokenizer.save(out)
    except OSError as exc:  # --out under a file, a read-only or full disk: after training, say where it could not go
        raise UserError(f"cannot write the tokenizer into {out}: {exc.strerror or exc}", "give --out a folder you can write") from None
    print(f"trained a byte-level BPE tokenizer on {source.describe()}: {tokenizer.documents} documents, "
          f"{tokenizer.characters} characters, {tokenizer.full_vocab_size} tokens, {time.perf_counter() - start:.1f} s")
    print(f"wrote {out / 'tokenizer.json'} and {out / 'tokenizer_config.json'}")
    print(f"use it: xlm train experiment=text_arlm datamodule.files=... tokenizer=hf tokenizer.path={out}")
    return 0

"""Training on real text: Hugging Face ``datasets`` and ``tokenizers`` behind xlm's data contract.

Each module owns one layer, and imports its heavy libraries (datasets, tokenizers, pyarrow,
torch) inside the functions that need them, so that ``xlm --help`` and xpm stay light.

    sources.py           which texts: local files by glob or folder (.txt/.jsonl/.parquet), or a hub dataset
    not_text.py          what a file that is not UTF-8 text is (compressed, UTF-16), said in one error
    fingerprint.py       content digests of corpus files (sha256, remembered while size and mtime hold)
    text_tokenizer.py    TextTokenizer: any tokenizer.json (local path or the Hugging Face cache), the
                         attributes xlm's models use, pad/bos/eos/mask added when missing
    bpe.py               byte-level BPE trained on a corpus; corpus_tokenizer: trained once, cached
    prepare.py           tokenize (datasets map, num_proc) and pack or split, cached on disk by content
    arrow_rows.py        the cached Arrow files, memory-mapped, as torch Datasets of Examples
    streaming.py         IterableDataset over a corpus too big to cache, sharded over ranks and workers
    datamodule.py        TextDataModule: the `datamodule=text*` configs
    tokenizer_command.py `xlm tokenizer train`
"""

"""Which texts a run reads: local files by glob or folder, or a dataset of the Hugging Face hub.

Both are loaded with `datasets`: as Arrow tables (memory-mapped) or, for corpora larger than
the disk cache, streamed. Local files are ``.txt``/``.md`` (one document per paragraph, line
or file: ``sample_by``), ``.jsonl`` and ``.parquet`` (one document per record). A hub dataset
is read from the Hugging Face cache when it is there; one that is neither cached nor
reachable is a two-line error naming it, never a hang or a traceback.

Every mistake a user can make here is a :class:`~xlm.errors.UserError`: a glob that matches
nothing, a format xlm does not read, a field the records lack, a file that is not UTF-8, a
split the hub dataset does not have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from xlm.data.not_text import not_text, not_utf8
from xlm.data.patterns import GLOB_CHARS, glob_files
from xlm.errors import UserError, causes, first_of

SPLITS = ("train", "val", "test")
BUILDERS = {".txt": "text", ".text": "text", ".md": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SAMPLE_BY = ("paragraph", "line", "document")
DEFAULT_HUB_SPLITS = {"train": "train", "val": "validation", "test": None}
# One text (a document, a record's field) is tokenized whole, and that takes about a hundred
# times its size in memory: a 50 MB line peaked at 11.5 GB, an out-of-memory kill with no word.
MAX_TEXT_CHARS = 10_000_000
SPLIT_FIX = ("split it into shorter documents: for .txt files, blank lines between paragraphs (datamodule.sample_by=paragraph) "
             "or one document per line (sample_by=line); for records, shorter fields")


def too_long(text: str) -> str | None:
    """Why ``text`` is too long to tokenize as one, or None."""
    if len(text) <= MAX_TEXT_CHARS:
        return None
    return (f"a text of {len(text):,} characters, over the {MAX_TEXT_CHARS:,} xlm tokenizes as one "
            "(tokenizing it takes about a hundred times its size in memory)")


def _plain(value: Any) -> Any:
    """OmegaConf containers (the config hands them over) as plain dicts and lists."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover  (omegaconf comes with hydra)
        pass
    return value


class TextSource:
    """A corpus: ``files`` (a glob, a folder, a list of them, or ``{train: ..., val: ..., test: ...}``)
    or ``hub`` (``{name, config, revision, splits: {train: train, val: validation, test: null}}``).

    A split the source does not have (``val`` of a plain folder, a hub split mapped to null)
    is held out from ``train`` by the datamodule.
    """

    def __init__(self, files: Any = None, hub: Mapping | None = None, sample_by: str = "paragraph") -> None:
        files, hub = _plain(files), _plain(hub)
        if (files is None) == (not hub or not hub.get("name")):
            raise UserError(
                "the text datamodule needs exactly one source: datamodule.files (local files) or datamodule.hub.name",
                "set one, e.g. datamodule.files=$HOME/corpus (a folder of .txt/.jsonl/.parquet) or datamodule=text_hub datamodule.hub.name=roneneldan/TinyStories",
            )
        if sample_by not in SAMPLE_BY:
            raise UserError(f"datamodule.sample_by={sample_by} is not one of {', '.join(SAMPLE_BY)}",
                            "paragraph: one document per blank-line-separated block; line: per line; document: per file")
        self.sample_by = sample_by
        self.patterns = self._patterns(files) if files is not None else {}
        self.hub = dict(hub) if files is None else None
        if self.hub is not None:
            splits = {**DEFAULT_HUB_SPLITS, **dict(self.hub.get("splits") or {})}
            unknown = sorted(set(splits) - set(SPLITS))
            if unknown:
                raise UserError(f"datamodule.hub.splits has {', '.join(unknown)}; xlm's splits are {', '.join(SPLITS)}",
                                "map xlm's splits to the dataset's: datamodule.hub.splits.val=validation")
            self.hub_splits = {k: v for k, v in splits.items() if v}
        self._files: dict[str, list[Path]] | None = None

    # ------------------------------------------------------------------ what it is

    @staticmethod
    def _patterns(files: Any) -> dict[str, list[str]]:
        if isinstance(files, (str, os.PathLike)):
            files = {"train": [files]}
        elif isinstance(files, (list, tuple)):
            files = {"train": list(files)}
        if not isinstance(files, dict) or not files:
            raise UserError(f"datamodule.files={files!r} is not a glob, a folder, a list or a mapping of splits",
                            "e.g. datamodule.files=$HOME/corpus or datamodule.files='{train: a/*.txt, val: b/*.txt}'")
        unknown = sorted(set(files) - set(SPLITS))
        if unknown or "train" not in files:
            raise UserError(f"datamodule.files has the splits {', '.join(map(str, files))}; it needs train and may have val, test",
                            "name them train, val and test")
        return {split: [str(p) for p in (v if isinstance(v, (list, tuple)) else [v])] for split, v in files.items() if v}

    def describe(self) -> str:
        if self.hub is not None:
            config = f" (config {self.hub['config']})" if self.hub.get("config") else ""
            return f"hub dataset '{self.hub['name']}'{config}"
        shown = "; ".join(f"{split}: {', '.join(p)}" for split, p in self.patterns.items())
        return f"files {shown}"

    def splits(self) -> tuple[str, ...]:
        """The splits the source itself has (the others are held out from train)."""
        return tuple(s for s in SPLITS if s in (self.hub_splits if self.hub is not None else self.patterns))

    def split_files(self, split: str) -> list[Path]:
        """The files of ``split``, in a stable order (sorted within each pattern)."""
        if self._files is None:
            self._files = {s: self._resolve(s, patterns) for s, patterns in self.patterns.items()}
        return self._files[split]

    def _resolve(self, split: str, patterns: list[str]) -> list[Path]:
        found: list[Path] = []
        for pattern in patterns:
            path = Path(os.path.expanduser(pattern))
            if path.is_dir():
                matches = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS
                                 and not any(part.startswith(".") for part in p.relative_to(path).parts))
                if not matches:
                    raise UserError(f"datamodule.files: the folder {path} ({split}) has no {', '.join(sorted(BUILDERS))} file",
                                    "point datamodule.files at a folder or glob of text files")
            elif GLOB_CHARS & set(str(path)):
                matches = sorted(glob_files(str(path)))
                if not matches:
                    raise UserError(f"datamodule.files: '{pattern}' ({split}) matches no file",
                                    "check the glob (quote it in the shell: datamodule.files='corpus/**/*.txt')")
            elif path.is_file():
                matches = [path]
            elif os.path.exists(path):  # a fifo would block the read, a device never end it
                raise UserError(f"datamodule.files: '{pattern}' ({split}) is not a regular file (a fifo, a device or a socket?)",
                                "give a file, folder or glob of text files")
            else:
                raise UserError(f"datamodule.files: '{pattern}' ({split}) does not exist", "give an existing file, folder or glob")
            bad = [p for p in matches if p.suffix.lower() not in BUILDERS]
            if bad:
                raise UserError(f"datamodule.files: {bad[0]} ({split}) is not a format xlm reads",
                                f"use {', '.join(sorted(BUILDERS))} files (a .jsonl record per line with the text field)")
            found.extend(matches)
        found = _once(found)
        if all(_size(p) == 0 for p in found):  # `datasets` fails on it with a traceback (DatasetGenerationError, StopIteration)
            raise UserError(f"datamodule.files: the {split} split ({first_of([str(p) for p in found], 3)}) is empty (0 bytes)",
                            f"put text in it, or leave the {split} split out of datamodule.files")
        kinds = sorted({BUILDERS[p.suffix.lower()] for p in found})
        if len(kinds) > 1:
            raise UserError(f"datamodule.files ({split}) mixes {' and '.join(kinds)} files",
                            "give one format per split (e.g. datamodule.files='corpus/*.txt')")
        return found

    def builder(self, split: str) -> str:
        return BUILDERS[self.split_files(split)[0].suffix.lower()]

    def identity(self, split: str, memo_dir: Path | None) -> dict:
        """What the texts of ``split`` are, for cache keys: the files' content digests in order
        (not their paths: a moved corpus is the same corpus), or the hub dataset's fingerprint."""
        if self.hub is not None:
            dataset = self.load(split)
            return {"hub": self.hub["name"], "config": self.hub.get("config"), "revision": self.hub.get("revision"),
                    "split": self.hub_splits[split], "fingerprint": getattr(dataset, "_fingerprint", None)}
        from xlm.data.fingerprint import file_digests

        builder = self.builder(split)
        return {"builder": builder, "sample_by": self.sample_by if builder == "text" else None,
                "files": file_digests(self.split_files(split), memo_dir)}

    # ------------------------------------------------------------------ loading

    def load(self, split: str, cache_dir: Path | None = None, streaming: bool = False) -> Any:
        """The split as a `datasets.Dataset` (or `IterableDataset` when ``streaming``); text files
        give a column ``text``, jsonl and parquet their records' fields."""
        import datasets

        if self.hub is not None:
            return self._load_hub(split, streaming)
        builder = self.builder(split)
        if builder != "parquet" and (error := next(filter(None, (not_text(p, f" ({split})") for p in self.split_files(split))), None)):
            raise error
        files = [str(p) for p in self.split_files(split)]
        extra = {"sample_by": self.sample_by} if builder == "text" else {}
        try:
            return datasets.load_dataset(builder, data_files=files, split="train", streaming=streaming,
                                         cache_dir=str(cache_dir) if cache_dir else None, **extra)
        except Exception as exc:
            raise self.read_error(split, exc) from exc

    def read_error(self, split: str, exc: BaseException) -> BaseException:
        """``exc`` (raised while reading local files) as the user's mistake it is, when it is one."""
        chain = list(causes(exc))
        if any(isinstance(e, UnicodeDecodeError) for e in chain):
            return not_utf8(self.split_files(split), f" ({split})")
        text = " ".join(str(e) for e in chain)
        if any(word in text for word in ("JSON", "json", "Parquet", "parquet", "Arrow", "arrow")):
            first = str(chain[-1]).splitlines()[0][:200]
            return UserError(f"cannot read the {split} files of {self.describe()}: {first}",
                             "each .jsonl line must be one JSON object; .parquet files must be readable by pyarrow")
        return exc

    def _load_hub(self, split: str, streaming: bool) -> Any:
        import datasets

        name, config, revision = self.hub["name"], self.hub.get("config"), self.hub.get("revision")
        hub_split = self.hub_splits[split]
        try:
            return datasets.load_dataset(name, config, split=hub_split, revision=revision, streaming=streaming)
        except Exception as exc:
            error = self._hub_error(exc, hub_split)
            if error is None:
                raise
            raise error from exc

    def _hub_error(self, exc: BaseException, hub_split: str) -> UserError | None:
        import datasets

        name, config = self.hub["name"], self.hub.get("config")
        shown = f"'{name}'" + (f" (config {config})" if config else "")
        offline = datasets.config.HF_HUB_OFFLINE
        call = f"datasets.load_dataset({name!r}{', ' + repr(config) if config else ''})"
        message = str(exc)
        if isinstance(exc, ConnectionError) or "Couldn't find cache for" in message:
            why = "offline (HF_DATASETS_OFFLINE or HF_HUB_OFFLINE is set)" if offline else "the hub cannot be reached"
            return UserError(
                f"hub dataset {shown} is not in the Hugging Face cache ({datasets.config.HF_DATASETS_CACHE}) and {why}",
                f"download it once with a network, with the same HF_HOME: python -c \"import datasets; {call}\"",
            )
        if isinstance(exc, datasets.exceptions.DatasetNotFoundError):
            return UserError(f"hub dataset {shown} does not exist or is not accessible: {message.splitlines()[0]}",
                             "check datamodule.hub.name (and log in with `hf auth login` for a gated dataset)")
        if "Unknown split" in message or "Bad split" in message:
            return UserError(f"hub dataset {shown} has no split '{hub_split}' ({message.splitlines()[0]})",
                             "map xlm's split to one it has (datamodule.hub.splits.val=...) or set it to null to hold out documents from train")
        if "BuilderConfig" in message or "Config name is missing" in message:
            return UserError(f"hub dataset {shown}: {message.splitlines()[0]}", "set datamodule.hub.config to one of its configs")
        return None

    def require_columns(self, dataset: Any, split: str, columns: list[str]) -> None:
        """Refuse records that lack a field the run reads, naming the field and what they have."""
        have = list(dataset.column_names or []) if dataset.column_names is not None else []
        missing = [c for c in columns if c not in have]
        if missing and have:
            where = self.describe() if self.hub is not None else f"{self.split_files(split)[0]} ({split})"
            raise UserError(f"{where}: the records have no field '{missing[0]}' (they have: {', '.join(have)})",
                            "name the field: datamodule.text_field=... (or prompt_field / target_field for pairs)")

    def check_records(self, split: str, columns: list[str]) -> None:
        """Read each local .jsonl record of ``split`` once, refusing one whose field is not text
        (`file:line`): `datasets` unifies a split's files, and where a field's type differs
        between them it stores every record of a file as its JSON text (`"caf\\u00e9 ..."`),
        which the tokenizing step then cannot tell from text."""
        if self.hub is None and self.builder(split) == "json":
            for path in self.split_files(split):
                for _ in _read_local(path, "json", columns, self.sample_by):
                    pass

    def iter_texts(self, split: str, columns: list[str], max_chars: int | None = None) -> Iterator[str]:
        """The non-blank texts of ``columns`` in ``split``, in order: what a tokenizer trains on.

        Local files are read directly (no Arrow copy is written, and neither `datasets` nor the
        torch it pulls in for streaming is imported: `xlm tokenizer train` starts at once); a
        hub dataset is read from the cache.
        """
        if self.hub is not None:
            dataset = self.load(split)
            self.require_columns(dataset, split, columns)
            texts = ((self.describe(), t) for batch in dataset.iter(batch_size=1000) for c in columns for t in batch[c])
        else:
            builder = self.builder(split)
            texts = ((path, t) for path in self.split_files(split) for t in _read_local(path, builder, columns, self.sample_by))
        total = 0
        for where, text in texts:
            if isinstance(text, str) and text.strip():
                if (why := too_long(text)) is not None:
                    raise UserError(f"{where} ({split}): {why}", SPLIT_FIX)
                yield text
                total += len(text)
                if max_chars is not None and total >= int(max_chars):
                    return


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # read (and reported) when the split is loaded
        return -1


def _once(paths: list[Path]) -> list[Path]:
    """Each file once: a glob that follows a symlink to a folder above it (``**`` walks it again
    and again, up to the link limit), or a folder and a file in it both given, names one file
    under many paths."""
    seen: set[str] = set()
    kept = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            kept.append(path)
    return kept


def _read_local(path: Path, builder: str, columns: list[str], sample_by: str) -> Iterator[Any]:
    """The values of ``columns`` in one local file, record by record (text files: the documents
    ``sample_by`` cuts, as the `datasets` text builder cuts them)."""
    import json

    try:
        if builder == "parquet":
            import pyarrow.parquet as pq

            table = pq.ParquetFile(path)
            missing = [c for c in columns if c not in table.schema_arrow.names]
            if missing:
                raise UserError(f"{path}: the records have no field '{missing[0]}' (they have: {', '.join(table.schema_arrow.names)})",
                                "name the field: datamodule.text_field=... (or prompt_field / target_field for pairs)")
            for batch in table.iter_batches(columns=columns):
                for column in columns:
                    yield from batch.column(column).to_pylist()
            return
        with open(path, encoding="utf-8") as handle:
            if builder == "json":
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        raise UserError(f"{path}:{number}: not a JSON object ({exc})", "each .jsonl line must be one JSON object") from None
                    if not isinstance(record, dict):  # `[...]`: a .json file holding one JSON array, or a line of one
                        raise UserError(f"{path}:{number}: not a JSON object (a JSON {type(record).__name__})",
                                        "xlm reads .json and .jsonl files as JSON Lines: one JSON object per line")
                    if any(c not in record for c in columns):
                        raise UserError(f"{path}:{number}: the record has no field '{next(c for c in columns if c not in record)}' "
                                        f"(it has: {', '.join(record)})",
                                        "name the field: datamodule.text_field=... (or prompt_field / target_field for pairs)")
                    for column in columns:
                        if not isinstance(record[column], str):
                            raise UserError(f"{path}:{number}: field '{column}' is {type(record[column]).__name__}, not text",
                                            "every record needs its text field(s) as strings; fix or drop those records")
                        if (why := too_long(record[column])) is not None:  # read once before `datasets` loads it: file:line
                            raise UserError(f"{path}:{number}: field '{column}' holds {why}", SPLIT_FIX)
                        yield record[column]
            elif sample_by == "document":
                yield handle.read()
            elif sample_by == "line":
                yield from (line.rstrip("\n") for line in handle)
            else:  # paragraphs: split on blank lines ("\n\n"), as the datasets text builder does
                rest = ""
                while chunk := handle.read(1 << 20):
                    pieces = (rest + chunk).split("\n\n")
                    yield from (piece for piece in pieces[:-1] if piece)
                    rest = pieces[-1]
                if rest:
                    yield rest
    except UnicodeDecodeError:
        raise not_utf8([path]) from None

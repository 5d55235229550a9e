"""Text tokenizers: any Hugging Face ``tokenizer.json``, with the interface xlm's models use.

Why `tokenizers` and not `transformers`: every fast tokenizer on the hub (GPT-2, Llama,
BERT, T5, ...) is one ``tokenizer.json`` that the `tokenizers` library loads by itself in
milliseconds, while `transformers` is a large install and seconds of import for the same
object. ``path`` is a local folder or file, or a hub name (``gpt2``, ``org/name``) read from
the Hugging Face cache first (huggingface_hub's layout; downloaded only when it is not there
and the hub is reachable). A tokenizer that ships only a slow, Python one (no
tokenizer.json) is converted once with transformers; the error says how.

Which token is pad, bos, eos and mask comes from the config (``pad_token=...``), else from
the ``tokenizer_config.json`` / ``special_tokens_map.json`` next to it, else from tokens named
``<pad> <bos> <eos> <mask>``; a role still missing gets a new special token, and a log line
says so (the model's vocabulary, ``full_vocab_size``, includes it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from xlm.errors import UserError

log = logging.getLogger(__name__)

ROLES = ("pad", "bos", "eos", "mask")
DEFAULT_TOKENS = {"pad": "<pad>", "bos": "<bos>", "eos": "<eos>", "mask": "<mask>"}
CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class TextTokenizer:
    """A `tokenizers.Tokenizer` with ``pad/bos/eos/mask_token(_id)``, ``full_vocab_size``,
    ``special_token_ids``, ``encode``, ``encode_batch``, ``decode``, ``batch_decode``.

    ``encode`` adds no special tokens: adding ``<bos>``, ``<eos>`` and padding is the
    collator's job, as with the number tokenizer.
    """

    def __init__(self, path: str, revision: str | None = None, pad_token: str | None = None, bos_token: str | None = None,
                 eos_token: str | None = None, mask_token: str | None = None) -> None:
        from tokenizers import Tokenizer

        files = locate(str(path), revision)
        try:
            tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
        except Exception as exc:  # the Rust loader's message names what is wrong in the JSON
            raise UserError(f"{files['tokenizer.json']} is not a tokenizer.json the tokenizers library can load: {exc}",
                            "give the folder of a Hugging Face tokenizer (it holds tokenizer.json)") from None
        explicit = {"pad": pad_token, "bos": bos_token, "eos": eos_token, "mask": mask_token}
        self._setup(tokenizer, str(path), _roles(tokenizer, files, explicit))

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, name: str, roles: dict[str, str] | None = None) -> "TextTokenizer":
        """Wrap a `tokenizers.Tokenizer` built in memory (e.g. just trained)."""
        self = cls.__new__(cls)
        self._setup(tokenizer, name, dict(roles or {}))
        return self

    def _setup(self, tokenizer: Any, name: str, roles: dict[str, str | None]) -> None:
        from tokenizers import AddedToken

        self.name, self._tokenizer = name, tokenizer
        added = []
        for role in ROLES:
            token = roles.get(role) or DEFAULT_TOKENS[role]
            if tokenizer.token_to_id(token) is None:  # a role the tokenizer lacks (or names a token it lacks)
                tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)])
                added.append(f"{role} {token} (id {tokenizer.token_to_id(token)})")
            setattr(self, f"{role}_token", token)
            setattr(self, f"{role}_token_id", int(tokenizer.token_to_id(token)))
        if added:
            log.info("tokenizer %s had no %s token: added %s; the vocabulary is now %d", name,
                     ", ".join(a.split()[0] for a in added), ", ".join(added), self.full_vocab_size)
        self.added_tokens = added
        self._special = sorted({int(i) for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
                               | {getattr(self, f"{r}_token_id") for r in ROLES})
        self._digest: str | None = None

    # ------------------------------------------------------------------ the interface of xlm's tokenizers

    @property
    def full_vocab_size(self) -> int:
        """Rows of the embedding table a model needs: one past the largest id (added tokens included)."""
        return max(self._tokenizer.get_vocab(with_added_tokens=True).values()) + 1

    @property
    def vocab_size(self) -> int:
        return self.full_vocab_size

    @property
    def special_token_ids(self) -> list[int]:
        return list(self._special)

    @property
    def tokenizer(self) -> Any:
        """The wrapped `tokenizers.Tokenizer`."""
        return self._tokenizer

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def batch_decode(self, batch: Iterable[Sequence[int]], skip_special_tokens: bool = False) -> list[str]:
        batch = batch.tolist() if hasattr(batch, "tolist") else batch
        return self._tokenizer.decode_batch([[int(i) for i in ids] for ids in batch], skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def __len__(self) -> int:
        return self.full_vocab_size

    def __repr__(self) -> str:
        return f"TextTokenizer({self.name!r}, vocab={self.full_vocab_size})"

    # ------------------------------------------------------------------ identity and saving

    @property
    def digest(self) -> str:
        """sha256 of the tokenizer's full definition and roles: what tokenized data depend on."""
        if self._digest is None:
            roles = {r: getattr(self, f"{r}_token") for r in ROLES}
            payload = self._tokenizer.to_str() + json.dumps(roles, sort_keys=True)
            self._digest = hashlib.sha256(payload.encode()).hexdigest()
        return self._digest

    def save(self, folder: str | Path) -> Path:
        """``folder``/tokenizer.json and tokenizer_config.json (the roles; transformers' AutoTokenizer
        reads this folder too). Files are replaced atomically."""
        from xlm.textfile import write_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {f"{r}_token": getattr(self, f"{r}_token") for r in ROLES}
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        for name, text in (("tokenizer.json", self._tokenizer.to_str(pretty=False)),
                           ("tokenizer_config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")):
            write_atomic(folder / name, text, durable=False)
        return folder


# ----------------------------------------------------------------------------- finding the files


def locate(path: str, revision: str | None = None) -> dict[str, Path | None]:
    """``{"tokenizer.json": Path, "tokenizer_config.json": Path | None, ...}`` of a local folder or
    file, or of a hub name (from the Hugging Face cache first)."""
    local = Path(os.path.expanduser(path))
    if local.is_dir():
        main = local / "tokenizer.json"
        if not main.is_file():
            raise UserError(f"tokenizer folder {local} has no tokenizer.json",
                            "train one (xlm tokenizer train FILES --out DIR) or convert a slow tokenizer with transformers "
                            "(AutoTokenizer.from_pretrained(...).save_pretrained(DIR))")
        return {"tokenizer.json": main, **{n: (local / n if (local / n).is_file() else None) for n in CONFIG_FILES}}
    if local.is_file():
        return {"tokenizer.json": local, **{n: (local.parent / n if (local.parent / n).is_file() else None) for n in CONFIG_FILES}}
    if path.startswith((".", "/", "~")) or not _HUB_ID.match(path):
        raise UserError(f"tokenizer path '{path}' does not exist", "give a folder holding tokenizer.json, the file itself, or a hub name (gpt2, org/name)")
    return _from_hub(path, revision)


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_DATASETS_OFFLINE", "")
    return bool(constants.HF_HUB_OFFLINE) or flag.upper() in ("1", "ON", "YES", "TRUE")


def _from_hub(repo_id: str, revision: str | None) -> dict[str, Path | None]:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    def fetch(filename: str, required: bool) -> Path | None:
        cached = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(cached, str):
            return Path(cached)
        if _offline() or cached is not None:  # offline, or the cache knows the file does not exist
            if required and cached is None:
                raise UserError(f"tokenizer '{repo_id}' is not in the Hugging Face cache and the hub may not be used "
                                "(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set)",
                                f"download it once with a network, with the same HF_HOME: hf download {repo_id} tokenizer.json tokenizer_config.json")
            if required:
                raise _no_fast_tokenizer(repo_id)
            return None
        try:
            return Path(hf_hub_download(repo_id, filename, revision=revision))
        except EntryNotFoundError:
            if required:
                raise _no_fast_tokenizer(repo_id) from None
            return None
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise UserError(f"tokenizer '{repo_id}' is not a model on the hub (or not accessible): {type(exc).__name__}",
                            "check tokenizer.path (a hub name such as gpt2, or a local folder)") from None
        except Exception as exc:  # connection refused, timeout, LocalEntryNotFoundError
            if not required:
                return None
            raise UserError(f"tokenizer '{repo_id}' is not in the Hugging Face cache and the hub cannot be reached "
                            f"({type(exc).__name__})",
                            f"download it once with a network, with the same HF_HOME: hf download {repo_id} tokenizer.json tokenizer_config.json") from None

    main = fetch("tokenizer.json", required=True)
    return {"tokenizer.json": main, **{n: fetch(n, required=False) for n in CONFIG_FILES}}


def _no_fast_tokenizer(repo_id: str) -> UserError:
    return UserError(f"'{repo_id}' has no tokenizer.json (only a slow tokenizer, which needs transformers)",
                     "convert it once: python -c \"from transformers import AutoTokenizer; "
                     f"AutoTokenizer.from_pretrained('{repo_id}').save_pretrained('tok')\" and use tokenizer.path=tok")


def _roles(tokenizer: Any, files: dict[str, Path | None], explicit: dict[str, str | None]) -> dict[str, str | None]:
    """Which token plays each role: the config, else the tokenizer's own files, else ``<pad>`` ... by name."""
    declared: dict[str, str] = {}
    for name in reversed(CONFIG_FILES):  # tokenizer_config.json wins over special_tokens_map.json
        path = files.get(name)
        if path is None:
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path} is not valid JSON ({exc})", "repair or delete it (the roles then come from token names)") from None
        for role in ROLES:
            value = data.get(f"{role}_token") if isinstance(data, dict) else None
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str):
                declared[role] = value
    roles: dict[str, str | None] = {}
    for role in ROLES:
        named = explicit.get(role) or declared.get(role)
        if named is None and tokenizer.token_to_id(DEFAULT_TOKENS[role]) is not None:
            named = DEFAULT_TOKENS[role]
        roles[role] = named
    return roles

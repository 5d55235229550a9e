"""A checkpoint's model record (`checkpoint["xlm"]["models"]`), read without torch and without running anything.

`xpm install --from-run CKPT` must not import torch, and `xlm runs show CKPT` need not: a
checkpoint written by `torch.save` is a zip file whose `<name>/data.pkl` holds the pickled dict
around the weights (the weights are other members, never read here). It is unpickled with an
unpickler that builds only plain data: every class the file names (a tensor's rebuild function,
an OrderedDict, a Lightning object) becomes an inert placeholder and every tensor storage
`None`, so no callable of the file's choosing ever runs. The record itself is plain data (str,
bytes, dicts), so it comes out whole, and is then checked like any record (`runs.from_checkpoint`).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

from xlm.records.lockfile import LockFileError
from xlm.records.runs import RunRecord, from_checkpoint

MAX_PICKLE_BYTES = 256 << 20  # the dict around the weights: configs, records, loop state
FIX = "name a checkpoint written by xlm (a .ckpt file), or its run folder"


class _Inert:
    """What any class or function a checkpoint names becomes: accepts its arguments, does nothing."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass

    def __setitem__(self, key, value) -> None:  # a dict subclass (OrderedDict) being filled
        pass

    def append(self, value) -> None:  # a list subclass being filled
        pass

    def extend(self, values) -> None:
        pass


def _latin1(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """How pickle protocol 2 (torch.save's) writes bytes: `_codecs.encode(text, "latin1")`."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"bytes in encoding {encoding!r}")
    return text.encode("latin1")


# What plain data needs: pure constructors of builtin values, nothing else.
_PLAIN = {("_codecs", "encode"): _latin1, ("collections", "OrderedDict"): OrderedDict, ("builtins", "set"): set,
          ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return _PLAIN.get((module, name), _Inert)  # never anything of the file's choosing

    def persistent_load(self, pid):
        return None  # a tensor's storage: the weights are not read


def read_checkpoint_dict(path: Path | str) -> dict:
    """The checkpoint's top-level dict, plain data only (placeholders for everything else)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i for i in archive.infolist() if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")]
            if len(names) != 1:
                raise LockFileError(f"{path} is not a checkpoint torch.save wrote (no single <name>/data.pkl)", FIX)
            if names[0].file_size > MAX_PICKLE_BYTES:
                raise LockFileError(f"{path}: its data.pkl is over {MAX_PICKLE_BYTES >> 20} MiB", FIX)
            data = archive.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise LockFileError(f"{path} cannot be read as a checkpoint ({exc})", FIX) from None
    try:
        loaded = _PlainUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # noqa: BLE001 - any malformed pickle: the file is not a checkpoint
        raise LockFileError(f"{path}: its data.pkl cannot be read ({type(exc).__name__}: {exc})", FIX) from None
    if not isinstance(loaded, dict):
        raise LockFileError(f"{path} does not hold a dict (not a Lightning checkpoint)", FIX)
    return loaded


def read_record(path: Path | str) -> RunRecord | None:
    """The record of the models that wrote checkpoint `path` (None: it has none). Raises
    `LockFileError` when the file is not a checkpoint or its record cannot be read."""
    return from_checkpoint(read_checkpoint_dict(path), str(path))

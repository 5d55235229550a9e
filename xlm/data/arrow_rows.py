"""The cached split files (`xlm.data.prepare`) as torch Datasets of :class:`xlm.api.Example`.

The files are Arrow streams, memory-mapped: a row is a numpy view into the page cache, so a
corpus larger than memory trains without loading it, every DataLoader worker shares the
same pages, and opening a split costs milliseconds. Only pyarrow and numpy are needed here
(not `datasets`, whose import alone takes seconds); `datasets.Dataset.from_file(path)` reads
the same files for inspection.

A packed block becomes ``{"prompt_ids": [], "target_ids": block, "add_eos": False}``: the
block carries the ``<eos>`` between its documents itself and is cut from a longer text, so
the collator must not end it with one more.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import Dataset

from xlm.data.prepare import numpy_view


class ArrowRows(Dataset):
    """Rows of one Arrow stream file whose ``columns`` are lists of int32, as numpy arrays.

    ``ids_below``: the tokenizer's vocabulary size. The file's layout is checked when it is
    opened, its tokens only when read: an id outside the vocabulary is damage in place (the
    cache is keyed by the tokenizer that wrote it), said as such, not an IndexError deep in
    the model's embedding. Two reductions over a row of a few hundred ids cost microseconds."""

    def __init__(self, path: str | Path, columns: Sequence[str], ids_below: int | None = None) -> None:
        self.path, self.columns, self.ids_below = Path(path), tuple(columns), ids_below
        self._open()

    def _open(self) -> None:
        import numpy as np
        import pyarrow as pa

        try:
            table = self._table = pa.ipc.open_stream(pa.memory_map(str(self.path))).read_all()
        except (OSError, pa.ArrowException) as exc:  # the layout's marker vouched for it: the cache is damaged
            from xlm.data.store import damaged

            raise damaged(self.path.parent, self.path.name, exc) from None
        self._chunks: list[dict[str, tuple[Any, Any]]] = []
        starts = [0]
        for batch in table.to_batches():
            if batch.num_rows == 0:
                continue
            chunk = {}
            for name in self.columns:
                array = batch.column(name)
                values = numpy_view(array.values)
                if pa.types.is_fixed_size_list(array.type):
                    size = array.type.list_size
                    offsets = (np.arange(array.offset, array.offset + len(array) + 1) * size)
                else:
                    offsets = numpy_view(array.offsets)
                chunk[name] = (offsets, values)
            self._chunks.append(chunk)
            starts.append(starts[-1] + batch.num_rows)
        self._starts = starts

    def __len__(self) -> int:
        return self._starts[-1]

    def row(self, index: int) -> dict[str, Any]:
        """``{column: numpy array}`` of row ``index`` (negative counts from the end)."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of {self.path.name}, which has {len(self)}")
        which = bisect.bisect_right(self._starts, index) - 1
        local = index - self._starts[which]
        row = {name: values[offsets[local]:offsets[local + 1]] for name, (offsets, values) in self._chunks[which].items()}
        if self.ids_below is not None:
            for name, ids in row.items():
                if ids.size and not (0 <= int(ids.min()) and int(ids.max()) < self.ids_below):
                    from xlm.data.store import damaged

                    bad = int(ids.max()) if int(ids.max()) >= self.ids_below else int(ids.min())
                    raise damaged(self.path.parent, self.path.name,
                                  ValueError(f"row {index} holds token id {bad} in {name}, outside the tokenizer's {self.ids_below} ids"))
        return row

    def lengths(self, column: str) -> Any:
        """Lengths of ``column`` in every row (one numpy array)."""
        import numpy as np

        return np.concatenate([np.diff(chunk[column][0]) for chunk in self._chunks]) if self._chunks else np.zeros(0, int)

    def example(self, row: dict[str, Any]) -> dict:
        raise NotImplementedError

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.example(self.row(int(index)))

    def __getitems__(self, indices: Sequence[int]) -> list:
        """A whole batch in one call (the DataLoader uses it when it exists)."""
        return [self.example(self.row(int(i))) for i in indices]

    def __getstate__(self) -> dict:
        # Workers started by "spawn" reopen the file: memory maps do not pickle (they would be copied).
        state = dict(self.__dict__)
        for name in ("_table", "_chunks", "_starts"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()


class PackedBlocks(ArrowRows):
    """Blocks of ``block_size`` token ids packed from whole documents (LM mode)."""

    def __init__(self, path: str | Path, ids_below: int | None = None) -> None:
        super().__init__(path, ("input_ids",), ids_below)

    def example(self, row: dict[str, Any]) -> dict:
        return {"prompt_ids": [], "target_ids": row["input_ids"].tolist(), "add_eos": False}


class PromptTargetPairs(ArrowRows):
    """Prompt/target records; a prompt longer than ``max_prompt_tokens`` keeps its end (next to
    the target), a target longer than ``max_target_tokens`` keeps its start."""

    def __init__(self, path: str | Path, max_prompt_tokens: int | None = None, max_target_tokens: int | None = None,
                 ids_below: int | None = None) -> None:
        super().__init__(path, ("prompt_ids", "target_ids"), ids_below)
        self.max_prompt_tokens, self.max_target_tokens = max_prompt_tokens, max_target_tokens

    def truncated(self) -> int:
        """How many records the limits cut."""
        cut = 0
        for column, limit in (("prompt_ids", self.max_prompt_tokens), ("target_ids", self.max_target_tokens)):
            if limit is not None:
                cut += int((self.lengths(column) > int(limit)).sum())
        return cut

    def example(self, row: dict[str, Any]) -> dict:
        prompt, target = row["prompt_ids"], row["target_ids"]
        if self.max_prompt_tokens is not None:
            prompt = prompt[len(prompt) - min(len(prompt), int(self.max_prompt_tokens)):]
        if self.max_target_tokens is not None:
            target = target[: int(self.max_target_tokens)]
        return {"prompt_ids": prompt.tolist(), "target_ids": target.tolist()}


def blocks_per_continuation(block_size: int, prompt_tokens: int, target_tokens: int) -> int:
    """Consecutive blocks one generation example spans (a block may be shorter than prompt + target)."""
    return max(1, -(-(int(prompt_tokens) + int(target_tokens)) // max(1, int(block_size))))


def continuation_examples(blocks: Sequence[dict], count: int, prompt_tokens: int, target_tokens: int) -> list[dict]:
    """What `xlm generate` runs on in LM mode: ``prompt_tokens`` of the text as the prompt and the
    ``target_tokens`` that really followed as the target. Consecutive blocks of a split are
    consecutive text, so an example joins as many as it needs."""
    if len(blocks) == 0:
        return []
    width = len(blocks[0]["prompt_ids"]) + len(blocks[0]["target_ids"])
    span = blocks_per_continuation(width, prompt_tokens, target_tokens)
    out = []
    for start in range(0, min(len(blocks), int(count) * span), span):
        ids = [i for example in blocks[start: start + span] for i in (*example["prompt_ids"], *example["target_ids"])]
        cut = min(int(prompt_tokens), max(1, len(ids) - 1))  # the target keeps at least one token
        out.append({"prompt_ids": ids[:cut], "target_ids": ids[cut: cut + int(target_tokens)], "add_eos": False})
    return out

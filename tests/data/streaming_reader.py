"""One DDP process of the streaming test: joins a gloo group, reads one epoch of the stream
through a DataLoader with workers, and writes every block it saw with the reader that made it.

    python streaming_reader.py RANK WORLD INIT_FILE CORPUS TOKENIZER OUT_JSON NUM_WORKERS
"""

from __future__ import annotations

import json
import sys

import torch.distributed as dist
from torch.utils.data import DataLoader

from xlm.data.sources import TextSource
from xlm.data.streaming import StreamedExamples
from xlm.data.text_tokenizer import TextTokenizer


class Tagged(StreamedExamples):
    """Each example also names its reader, so the test can rebuild every reader's stream in order."""

    def __iter__(self):
        index, _ = self.reader()
        for example in super().__iter__():
            yield {**example, "reader": index}


def main() -> None:
    rank, world, init, corpus, tokenizer, out, workers = sys.argv[1:8]
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=int(rank), world_size=int(world))
    stream = Tagged(TextSource(corpus), TextTokenizer(tokenizer), origin="train", keep=None, val_size=0.0, mode="lm",
                    columns=["text"], block_size=32, repeat=False, shuffle_buffer=64, seed=7)
    assert (stream.rank, stream.world_size) == (int(rank), int(world))  # read from torch.distributed
    loader = DataLoader(stream, batch_size=None, num_workers=int(workers))
    blocks = [{"reader": int(e["reader"]), "ids": [int(i) for i in e["target_ids"]]} for e in loader]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(blocks, handle)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

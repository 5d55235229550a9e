"""Benchmark: training on text, side by side in one run (results in docs/benchmarks.md).

(a) pipeline: batches per second the text datamodule's train loader delivers (memory-mapped
    blocks, collated by arlm's collator, ``num_workers=0`` as configured) against the
    training steps per second arlm takes on the same batches. Target: >= 10x.
(b) overhead: arlm on text through xlm (Harness under the Lightning Trainer, the loader
    collating every batch) against a hand-written PyTorch loop on the same, pre-collated
    batches (bench_harness_overhead.py's loops). Target: <= 1.10x.
    (a) and (b) use text_arlm's model on batches of 8 blocks of 64 tokens by default: the
    shorter the step, the harder both targets, and short steps keep (b) measurable on a
    shared CPU (``--batch-size 32 --block-size 128`` is text_arlm's own batch).
(c) preparation of a 50 MB corpus: the first run's tokenization with every core
    (``num_proc`` = cores) against one process, with the CPU time of all processes over the
    wall time (cores busy); then the time from starting `xlm train` to its first training
    step with the cache warm against the same command on in-memory random blocks (no data
    preparation at all), in fresh processes, alternating. Target: <= 2 s more.

    python bench/bench_text.py [--megabytes 50] [--steps 60] [--rounds 5] [--startups 5] [--batch-size 8] [--block-size 64]

Results go to bench/results/text.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_harness_overhead as overhead
from core_common import REPO, RESULTS, compose, machine, save

TARGETS = {"pipeline_ratio_min": 10.0, "overhead_ratio_max": 1.10, "startup_extra_s_max": 2.0}
BENCH = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- the corpus


def make_corpus(folder: Path, megabytes: float, seed: int = 0) -> Path:
    """Files of paragraphs over a Zipf-distributed vocabulary of made-up words in four scripts."""
    rng = random.Random(seed)
    syllables = ["ka", "to", "ri", "me", "su", "la", "no", "vi", "äu", "çe", "ðo", "ζα", "μι", "ко", "да", "日", "本", "語"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20000)]
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    folder.mkdir(parents=True, exist_ok=True)
    target, files, written = megabytes * 1e6, 10, 0
    for index in range(files):
        paragraphs = []
        size = 0
        while size < target / files:
            sentence = " ".join(rng.choices(words, weights, k=rng.randint(40, 160))) + "."
            paragraphs.append(sentence)
            size += len(sentence.encode("utf-8")) + 2
        (folder / f"part{index:02d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        written += size
    return folder


# ----------------------------------------------------------------------------- (c) preparation


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the tokenizing processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_prepare(corpus: Path, tokenizer, cache: Path, num_proc: int) -> dict:
    from xlm.data.prepare import prepare
    from xlm.data.sources import TextSource

    cpu, start = cpu_seconds(), time.perf_counter()
    prepared = prepare(TextSource(str(corpus)), tokenizer, block_size=128, num_proc=num_proc, root=cache)
    wall = time.perf_counter() - start
    busy = (cpu_seconds() - cpu) / wall
    return {"num_proc": num_proc, "seconds": round(wall, 2), "cores_busy": round(busy, 2),
            "train_blocks": prepared.info["splits"]["train"]["blocks"]}


class InMemoryBlocks:
    """The baseline of (c): random blocks already in memory, so a run prepares no data at all."""

    def __new__(cls, tokenizer, collator, block_size: int = 128, batch_size: int = 32, **ignored):
        import lightning as L
        import torch
        from torch.utils.data import DataLoader

        generator = torch.Generator().manual_seed(0)
        blocks = torch.randint(4, tokenizer.full_vocab_size, (2048, block_size), generator=generator).tolist()
        examples = [{"prompt_ids": [], "target_ids": b, "add_eos": False} for b in blocks]

        class Module(L.LightningDataModule):
            def train_dataloader(self):
                return DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=collator)

            def val_dataloader(self):
                return DataLoader(examples[:64], batch_size=batch_size, collate_fn=collator)

        return Module()


class FirstStep:
    """A callback that writes the wall clock when the first training batch starts."""

    def __new__(cls, path: str):
        import lightning as L

        class Stamp(L.Callback):
            def on_train_batch_start(self, *args) -> None:
                if not os.path.exists(path):
                    Path(path).write_text(repr(time.time()))

        return Stamp()


def seconds_to_first_step(corpus: Path, work: Path, tokenizer_dir: Path, in_memory: bool, index: int) -> float:
    stamp = work / f"stamp-{'memory' if in_memory else 'text'}-{index}"
    stamp.unlink(missing_ok=True)
    data = ["datamodule._target_=bench_text.InMemoryBlocks", "tokenizer=hf", f"tokenizer.path={tokenizer_dir}"] if in_memory else []
    command = [sys.executable, "-m", "xlm", "train", "experiment=text_arlm", f"datamodule.files={corpus}", *data,
               "trainer.max_steps=1", "trainer_strategy=cpu", "callbacks=none", "loggers=[]", "+trainer.limit_val_batches=0",
               "+callbacks.first_step._target_=bench_text.FirstStep", f"+callbacks.first_step.path={stamp}",
               f"hydra.run.dir={work / f'run-{index}-{in_memory}'}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    start = time.time()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not stamp.exists():
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return float(stamp.read_text()) - start


# ----------------------------------------------------------------------------- (a) and (b)


def pipeline_seconds_per_batch(datamodule, batches: int) -> float:
    loader = datamodule.train_dataloader()
    batches = min(batches, len(loader) - 1)
    loader = iter(loader)
    next(loader)  # the loader's own start (iterator, first fetch) is not a per-batch cost
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return (time.perf_counter() - start) / batches


def first_and_second_run(args, work: Path, corpus: Path) -> dict:
    """(c): the first run's tokenizer and tokenizing (every core vs one), then start-up times."""
    import shutil

    from xlm.data.bpe import corpus_tokenizer
    from xlm.data.prepare import available_cores

    for cache in (work / "data", work / "cache-one", work / "tokenizer"):  # a first run starts from nothing
        shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    tokenizer = corpus_tokenizer(files=str(corpus), cache_dir=str(work / "data" / "tokenizers"))
    bpe_seconds = time.perf_counter() - start
    tokenizer_dir = work / "tokenizer"
    tokenizer.save(tokenizer_dir)
    cores = available_cores()
    print(f"(c) byte-level BPE ({tokenizer.full_vocab_size} tokens) trained in {bpe_seconds:.1f} s")
    single = timed_prepare(corpus, tokenizer, work / "cache-one", 1)
    print(f"(c) tokenizing with 1 process: {single['seconds']} s, {single['cores_busy']} cores busy")
    every = timed_prepare(corpus, tokenizer, work / "data" / "text", cores)
    print(f"(c) tokenizing with {cores} processes: {every['seconds']} s, {every['cores_busy']} cores busy "
          f"(speed-up {single['seconds'] / every['seconds']:.2f}x)")

    # (c) second run: start to first step, warm cache vs no data preparation, alternating fresh processes.
    text_runs, memory_runs = [], []
    for index in range(args.startups):
        text_runs.append(seconds_to_first_step(corpus, work, tokenizer_dir, False, index))
        memory_runs.append(seconds_to_first_step(corpus, work, tokenizer_dir, True, index))
    extra = statistics.median(text_runs) - statistics.median(memory_runs)
    print(f"(c) start to first step: text {statistics.median(text_runs):.2f} s, in-memory {statistics.median(memory_runs):.2f} s, "
          f"extra {extra:.2f} s (target <= {TARGETS['startup_extra_s_max']})")

    return {
        "c_first_run": {"bpe_seconds": round(bpe_seconds, 2), "one_process": single, "every_core": every,
                        "speedup": round(single["seconds"] / every["seconds"], 2)},
        "c_second_run": {"text_seconds_to_first_step": [round(t, 2) for t in text_runs],
                         "in_memory_seconds_to_first_step": [round(t, 2) for t in memory_runs], "extra_s": round(extra, 2)},
        "c_machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--steps", type=int, default=60, help="training steps per round of (b)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8, help="(a), (b): blocks per batch (text_arlm: 32)")
    parser.add_argument("--block-size", type=int, default=64, help="(a), (b): tokens per block (text_arlm: 128); "
                        "a short step is the hard case of both ratios, and keeps (b) measurable on a shared CPU")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startups", type=int, default=5, help="fresh `xlm train` processes of each kind in (c)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for (a) and (b)")
    parser.add_argument("--work", type=Path, default=None, help="keep corpus and caches here (default: a temporary folder)")
    parser.add_argument("--parts", default="abc", help="which comparisons to run (ab: only (a) and (b), on the caches of --work)")
    args = parser.parse_args()

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    work = args.work or Path(tempfile.mkdtemp(prefix="xlm-bench-text-"))
    os.environ["XLM_DATA_DIR"] = str(work / "data")
    corpus = work / "corpus"
    start = time.perf_counter()
    if not corpus.exists():
        make_corpus(corpus, args.megabytes)
    size_mb = sum(p.stat().st_size for p in corpus.iterdir()) / 1e6
    print(f"corpus: {size_mb:.1f} MB in {len(list(corpus.iterdir()))} files ({time.perf_counter() - start:.1f} s to write)")

    from xlm.data.prepare import available_cores

    cores = available_cores()
    result: dict = {"corpus_mb": round(size_mb, 1), "cores": cores, "threads": args.threads}
    if "c" in args.parts:
        result.update(first_and_second_run(args, work, corpus))
    else:
        print("(c) skipped (--parts)")

    # (a) and (b) on the prepared corpus, with text_arlm's model and batches.
    import torch
    from hydra.utils import instantiate

    from xlm import build

    torch.set_num_threads(args.threads)
    out = work / "out"
    cfg = compose(out, "experiment=text_arlm", f"datamodule.files={corpus}", f"paths.data_dir={work / 'data'}",
                  f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps + 1}", "+trainer.limit_val_batches=0",
                  "trainer_strategy=cpu", "~callbacks.checkpoint", f"datamodule.num_proc={cores}",
                  f"datamodule.batch_size={args.batch_size}", f"datamodule.block_size={args.block_size}")
    tokenizer = build.build_tokenizer(cfg)
    datamodule = build.build_datamodule(cfg, tokenizer)
    datamodule.prepare_data()
    batch_seconds = min(pipeline_seconds_per_batch(datamodule, 200) for _ in range(3))
    batches = [b for b, _ in zip(datamodule.train_dataloader(), range(args.steps))]
    torch.manual_seed(0)
    state = instantiate(cfg.model).state_dict()
    hand, harness = [], []
    for _ in range(args.rounds):
        hand.append(overhead.steady_seconds_per_step(overhead.hand_loop(cfg, tokenizer, state, batches, args.steps), args.warmup))
        harness.append(overhead.steady_seconds_per_step(overhead.harness_run(cfg, tokenizer, state, datamodule, args.steps), args.warmup))
    step = statistics.median(hand)
    pipeline_ratio = step / batch_seconds
    overhead_ratio = statistics.median(harness) / step
    print(f"(a) pipeline {1000 * batch_seconds:.2f} ms/batch ({1 / batch_seconds:.0f} batches/s), arlm step {1000 * step:.1f} ms: "
          f"{pipeline_ratio:.1f}x (target >= {TARGETS['pipeline_ratio_min']})")
    print(f"(b) arlm on text: hand loop {1000 * step:.1f} ms/step, xlm {1000 * statistics.median(harness):.1f} ms/step, "
          f"ratio {overhead_ratio:.3f} (target <= {TARGETS['overhead_ratio_max']})")

    result.update({
        "batch": [int(cfg.datamodule.batch_size), int(cfg.datamodule.block_size) + 1],
        "model": {k: cfg.model[k] for k in ("d_model", "num_layers", "num_heads", "num_embeddings")},
        "a_pipeline": {"ms_per_batch": round(1000 * batch_seconds, 3), "arlm_ms_per_step": round(1000 * step, 2),
                       "ratio": round(pipeline_ratio, 1)},
        "b_overhead": {"hand_ms_per_step": [round(1000 * t, 2) for t in hand], "xlm_ms_per_step": [round(1000 * t, 2) for t in harness],
                       "ratio_of_medians": round(overhead_ratio, 3)},
        "targets": TARGETS, "ab_machine": machine(),
    })
    if "c" not in args.parts and (RESULTS / "text.json").exists():  # keep the last (c) next to the new (a), (b)
        result = {**json.loads((RESULTS / "text.json").read_text()), **result}
    print(f"saved {save('text', result)}")


if __name__ == "__main__":
    main()

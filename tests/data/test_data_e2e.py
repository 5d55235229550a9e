"""`xlm train` / `xlm generate` on a folder of text, for arlm, mlm and zlm, as a user runs them.

Each model trains a few dozen steps on a corpus the test writes (the BPE tokenizer trained on
it by `tokenizer=corpus_bpe`), reports its field's metric, and writes decoded samples.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from data_helpers import write_corpus, xlm_command, xlm_env

pytestmark = pytest.mark.slow
ZLM = Path(__file__).resolve().parents[2] / "examples" / "zlm"

SIZES = {
    "arlm": ["model.d_model=32", "model.num_layers=1", "model.num_heads=2", "model.dim_feedforward=64"],
    "mlm": ["model.d_model=32", "model.num_layers=1", "model.num_heads=2", "model.dim_feedforward=64"],
    "zlm": ["model.d_model=32", "model.num_layers=1", "model.num_heads=2", "predictor.num_steps=8"],
}
SMALL = ["tokenizer.vocab_size=400", "datamodule.block_size=32", "datamodule.val_size=0.1", "datamodule.batch_size=16",
         "datamodule.predict_examples=4", "datamodule.predict_prompt_tokens=8", "datamodule.predict_target_tokens=16",
         "optimizer.lr=3e-3", "trainer.max_steps=30", "trainer.val_check_interval=15", "trainer.log_every_n_steps=5"]
FIELD_METRIC = {"arlm": "val/lm/perplexity", "mlm": "val/lm/masked_accuracy", "zlm": "val/lm/perplexity_bound"}


def run_xlm(cwd: Path, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(xlm_command(*args), cwd=cwd, env=xlm_env(cwd), capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def only_run(cwd: Path, job: str) -> Path:
    (run,) = [p for p in (cwd / "outputs" / job).glob("*/*") if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("texts")
    write_corpus(folder, files=3, documents=300)
    return folder


@pytest.mark.parametrize("model", ["arlm", "mlm", "zlm"])
def test_train_on_a_folder_of_text_then_generate_decoded_samples(model, corpus, tmp_path):
    (tmp_path / ".xlm_models").write_text(f"{ZLM}\n")  # the external example model, listed as a project lists it
    corpus = Path(shutil.copytree(corpus, tmp_path / "texts"))
    run_xlm(tmp_path, "train", f"experiment=text_{model}", f"datamodule.files={corpus}", *SMALL, *SIZES[model])
    run = only_run(tmp_path, "train")
    record = json.loads((run / "train.json").read_text())
    metrics = record["metrics"]
    assert record["global_step"] == 30 and "val/loss" in metrics and FIELD_METRIC[model] in metrics
    with open(run / "metrics.csv") as handle:
        losses = [float(r["train/loss"]) for r in csv.DictReader(handle) if r.get("train/loss")]
    assert losses[-1] < losses[0] - 0.5, losses
    if model in ("arlm", "zlm"):  # exp of the per-token loss: perplexity, or its bound
        assert abs(metrics[FIELD_METRIC[model]] - 2.718281828 ** metrics["val/loss"]) < 1e-3 * metrics[FIELD_METRIC[model]]
    assert (run / "tokenizer" / "tokenizer.json").is_file()

    # A file added to the corpus after training: generate trained another tokenizer from it (the
    # model's ids then meant other text); it takes the run's own, saved in <run>/tokenizer.
    (corpus / "later.txt").write_text("\n\n".join("zebra quantum xylophone marmalade juxtapose " * 8 for _ in range(50)))
    trained = sorted((tmp_path / "data" / "tokenizers").iterdir())
    run_xlm(tmp_path, "generate", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}")
    assert sorted((tmp_path / "data" / "tokenizers").iterdir()) == trained
    rows = [json.loads(line) for line in (only_run(tmp_path, "generate") / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(isinstance(r["prediction"], str) and r["prediction"] for r in rows)
    words = set(pieces("\n".join(p.read_text(encoding="utf-8") for p in corpus.glob("*.txt"))))
    for row in rows:  # the text that really followed, decoded (the ends may be cut mid-word, or mid-character)
        assert row["target"] and set(pieces(row["target"])[1:-1]) <= words, row["target"]
        if model == "arlm":  # arlm's batches carry the prompt too
            assert row["prompt"] and set(pieces(row["prompt"])[1:-1]) <= words, row["prompt"]


def pieces(text: str) -> list[str]:
    """Words, and the document numbers that follow a document's last word without a space (its <eos> is not shown)."""
    return [p for p in re.split(r"\s+|(?=doc\d{5})", text) if p]


def test_a_missing_hub_dataset_offline_stops_the_run_with_two_lines(tmp_path, corpus):
    proc = run_xlm(tmp_path, "train", "experiment=text_arlm", "datamodule=text_hub", "datamodule.hub.name=nobody/missing_corpus",
                   check=False, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: hub dataset 'nobody/missing_corpus' is not in the Hugging Face cache")
    assert lines[1].startswith("  fix: download it once with a network")


def test_a_text_file_of_one_paragraph_is_told_to_read_lines_and_leaves_no_run_folder(tmp_path):
    """400 lines without a blank one are one document: nothing to hold out; the fix said to raise
    val_size, and the refused job left its folder (with the tokenizer it saved) each time."""
    words = "the cat sat on a mat dog ran far away".split()
    (tmp_path / "corpus.txt").write_text("\n".join(" ".join(words[(i + j) % 10] for j in range(12)) for i in range(400)))
    proc = run_xlm(tmp_path, "train", "experiment=text_arlm", "debug=overfit", "trainer.max_steps=2", "model.d_model=32",
                   "model.num_layers=1", f"datamodule.files=[{tmp_path / 'corpus.txt'}]", check=False, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "  fix: the train files hold one document (a .txt file without blank lines is one paragraph): read one per line "
        "(datamodule.sample_by=line)"), proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_ddp_training_on_a_stream_with_uneven_shards_does_not_hang(tmp_path):
    write_corpus(tmp_path / "texts", files=3, documents=150, seed=5)  # 3 files over 2 ranks x 1 worker: uneven readers
    run_xlm(tmp_path, "train", "experiment=text_arlm", f"datamodule.files={tmp_path / 'texts'}", "datamodule.streaming=true",
            "datamodule.num_workers=1", "trainer_strategy=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
            *SMALL, "trainer.max_steps=12", "trainer.val_check_interval=6", *SIZES["arlm"], timeout=400)
    record = json.loads((only_run(tmp_path, "train") / "train.json").read_text())
    assert record["global_step"] == 12 and "val/lm/perplexity" in record["metrics"]

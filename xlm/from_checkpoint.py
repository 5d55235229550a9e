"""A job's config when it names a checkpoint and no model: the checkpoint's own, the command line on top.

`xlm eval ckpt_path=X`, `xlm generate ckpt_path=X` and `xlm train ckpt_path=X` (resume) need
no experiment: a checkpoint carries the resolved config it was trained with. eval and
generate take from it what defines the model, its data and its metrics (`MODEL_NODES`);
train takes all of it except the places of the new run (`RUN_NODES`). The command line still
applies on top, with the values of the freshly composed config: ``KEY=VALUE`` overrides, and
group selections (``trainer_strategy=ddp``, ``datamodule=star_hard``), which set what their
config file sets.

The stored config is resolved, so the old run folder and data folder are written out in it.
They are pointed back at ``${paths.output_dir}`` and ``${paths.data_dir}``: a resumed run
writes into its own folder, and ``$XLM_DATA_DIR`` (or ``paths.data_dir=``) decides where the
task data are read, not the path of the machine that trained.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xlm.errors import UserError

# What defines a checkpoint (its model, data and metrics), as opposed to how a job runs.
MODEL_NODES = (
    "tokenizer", "datamodule", "collator", "model", "loss", "predictor",
    "reported_metrics", "lightning_module", "optimizer", "lr_scheduler", "tags",
)
# The new run's own: where it writes, what it is; never taken from the checkpoint.
RUN_NODES = ("job_type", "ckpt_path", "paths", "eval", "generate", "hydra", "record_models", "allow_model_drift")
_REPOINTED = ("output_dir", "data_dir")
# Where a run writes, inside nodes it otherwise takes whole ("*": any callback or logger), and
# where in the new run folder it goes when this command's config has no such key.
_WRITES = {"trainer.default_root_dir": "", "callbacks.*.dirpath": "/{name}", "loggers.*.save_dir": "",
           "datamodule.save_tokenizer_to": "/tokenizer"}


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> tuple[dict | None, object]:
    """(the checkpoint's stored config, its record of the models it used); (mtime, size) only
    key the cache of this process, so a job reads a checkpoint once."""
    import torch

    try:
        try:  # mmap: the weights are not read, only the pickled dict around them
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be mapped
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (an empty, cut or foreign file fails in torch's reader many ways)
        if named := re.search(r"Unsupported global: GLOBAL (\S+)", str(exc)):  # weights_only: a pickle that would call code
            raise UserError(f"checkpoint '{path}' holds a Python object beyond tensors and plain data ({named.group(1)}), "
                            "which xlm never unpickles: unpickling it could run any code",
                            "use a checkpoint xlm wrote, or save this one's state_dict again from code you trust") from None
        said = _torch_said(exc)
        raise UserError(f"checkpoint '{path}' cannot be read as a checkpoint: {said}",
                        "check ckpt_path=: a copy cut short, or a job killed while saving, leaves a file torch "
                        "cannot read; use another checkpoint of the run (<run dir>/checkpoints/)") from None
    if not isinstance(checkpoint, dict):
        return None, None
    cfg = (checkpoint.get("hyper_parameters") or {}).get("cfg")
    return (cfg if isinstance(cfg, dict) else None), (checkpoint.get("xlm") or {}).get("models") if isinstance(checkpoint.get("xlm"), dict) else None


def _torch_said(exc: Exception) -> str:
    """What torch's reader found, in one line (its weights-only refusal wraps it in a page of advice)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        return next((line.strip() for line in text.split("WeightsUnpickler error:", 1)[1].splitlines() if line.strip()),
                    "not a pickle torch reads")
    if isinstance(exc, EOFError):
        return "the file ends too early (empty, or cut short)"
    return (text.strip().splitlines() or [type(exc).__name__])[0]


def _loaded(path: str) -> tuple[dict | None, object]:
    stat = os.stat(path)
    return _load(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


_SIZE_MISMATCH = re.compile(r"size mismatch for (\S+): copying a param with shape torch\.Size\(\[(.*?)\]\) from checkpoint, "
                            r"the shape in current model is torch\.Size\(\[(.*?)\]\)")


def weights_error(exc: BaseException, path: str | None) -> UserError | None:
    """Lightning's `Error(s) in loading state_dict` (one line per tensor, 93 lines of traceback):
    the checkpoint's weights do not fit the model this config builds, in two lines."""
    from xlm.errors import causes, first_of

    found = next((e for e in causes(exc) if isinstance(e, RuntimeError) and str(e).startswith("Error(s) in loading state_dict")), None)
    if found is None or not path:
        return None
    parts, sizes = [], []
    for line in (line.strip() for line in str(found).splitlines()[1:]):
        keys = re.findall(r'"([^"]+)"', line)
        if line.startswith("Missing key(s)"):
            parts.append(f"the model has {len(keys)} tensor(s) the checkpoint lacks ({first_of(keys, 2)})")
        elif line.startswith("Unexpected key(s)"):
            parts.append(f"the checkpoint has {len(keys)} tensor(s) the model lacks ({first_of(keys, 2)})")
        elif (size := _SIZE_MISMATCH.match(line)) is not None:
            sizes.append(f"{size[1]}: [{size[2]}] in the checkpoint, [{size[3]}] in the model")
    if sizes:
        parts.append(f"{len(sizes)} tensor(s) differ in size ({first_of(sizes, 1)})")
    return UserError(f"the weights of checkpoint '{path}' do not fit the model this config builds: "
                     + ("; ".join(parts) or "their tensors differ"),
                     "drop the overrides that change the model's shape, or name the experiment the checkpoint was trained "
                     "with (without experiment=, the checkpoint's own config is used)")


def stored_config(path: str) -> dict:
    """The resolved config a checkpoint was trained with (saved there by the harness)."""
    cfg, _ = _loaded(path)
    if cfg is None:
        raise UserError(f"checkpoint '{path}' has no stored config (not written by xlm?)", "also pass experiment=<its experiment>")
    return cfg


def stored_models(path: str):
    """The checkpoint's record of the models that wrote it (`xlm.records.runs.RunRecord`), None
    when it has none. Raises `xlm.records.lockfile.LockFileError` for a record that cannot be read."""
    from xlm.records.runs import from_stored

    return from_stored(_loaded(path)[1], path)


def checkpoint_config(cfg: DictConfig, path: str, overrides: list[str], job: str) -> DictConfig:
    """``cfg`` with the checkpoint's nodes for ``job`` (train: all but `RUN_NODES`), ``overrides`` on top."""
    stored = stored_config(path)
    nodes = [k for k in stored if k not in RUN_NODES] if job == "train" else [k for k in MODEL_NODES if k in stored]
    _refuse_outside_targets(path, {k: stored[k] for k in nodes})
    merged = OmegaConf.to_container(cfg)  # unresolved: the run's own interpolations stay live
    old_paths = {k: v for k, v in (stored.get("paths") or {}).items() if k in _REPOINTED and isinstance(v, str) and v}
    try:
        merged.update({k: _repoint(stored[k], old_paths) for k in nodes})  # whole nodes
    except RecursionError:
        raise UserError(f"checkpoint '{path}' stores a config nested too deeply to read (not one xlm wrote)",
                        "use a checkpoint xlm wrote, or pass experiment=... to build the model from your own configs") from None
    if job == "train":
        _own_places(merged, OmegaConf.to_container(cfg))
    if "tokenizer" in nodes and (saved := _saved_tokenizer(path, stored)) is not None:
        merged["tokenizer"] = {"_target_": "xlm.data.text_tokenizer.TextTokenizer", "path": saved}
    merged = OmegaConf.create(merged)
    _apply_command_line(merged, cfg, overrides)
    return merged


CORPUS_TOKENIZER = "xlm.data.bpe.corpus_tokenizer"


def _saved_tokenizer(path: str, stored: dict) -> str | None:
    """The folder where the run saved the tokenizer it trained on its corpus, when there is one:
    a tokenizer trained again from the corpus as it is now (a file added, one edited) is another
    one, and the model's ids would mean other text (same vocabulary size: silently). None for a
    tokenizer that is not trained from the corpus, or a run folder that no longer holds it."""
    if not isinstance(stored.get("tokenizer"), dict) or stored["tokenizer"].get("_target_") != CORPUS_TOKENIZER:
        return None
    written = (stored.get("datamodule") or {}).get("save_tokenizer_to") if isinstance(stored.get("datamodule"), dict) else None
    beside = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), "tokenizer")  # <run>/checkpoints/x.ckpt
    for folder in (written, beside):
        if isinstance(folder, str) and os.path.isfile(os.path.join(folder, "tokenizer.json")):
            return folder
    return None


def _refuse_outside_targets(path: str, nodes: dict, key: str = "", depth: int = 0) -> None:
    """A checkpoint's config is data from wherever the file came from, and each `_target_` in it
    is called when the job is built: one in the standard library (`shutil.copy`, `os.system`,
    `builtins.eval`) would run whatever its arguments say. Models and libraries name their own
    classes; the standard library is never one."""
    import sys

    for name, value in nodes.items():
        where = f"{key}.{name}" if key else str(name)
        if isinstance(value, list):
            value = {str(i): item for i, item in enumerate(value)}
        if isinstance(value, dict):
            if depth < 64:  # deeper is no config xlm wrote; Hydra refuses it when it builds the job
                _refuse_outside_targets(path, value, where, depth + 1)
        elif name == "_target_" and isinstance(value, str):
            top = value.split(".", 1)[0]
            if top in sys.stdlib_module_names or top in ("builtins", "__builtin__", "_io"):
                raise UserError(f"checkpoint '{path}' names `{where}: {value}`, a function of Python's standard library that "
                                "building the job would call: a checkpoint's targets are the classes of xlm, its models "
                                "and their libraries",
                                "use a checkpoint xlm wrote, or pass experiment=... to build the model from your own configs")


def _repoint(value: Any, old_paths: dict[str, str]) -> Any:
    """``value`` with the stored run and data folders written as ``${paths.*}`` again."""
    if isinstance(value, dict):
        return {k: _repoint(v, old_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_repoint(v, old_paths) for v in value]
    if isinstance(value, str):
        for name, old in sorted(old_paths.items(), key=lambda item: -len(item[1])):
            if value == old or value.startswith(old.rstrip("/") + "/"):
                return "${paths.%s}%s" % (name, value[len(old):])
    return value


def _own_places(merged: dict, composed: dict) -> None:
    """A resumed run writes into its own folder: a stored place outside the old run folder
    (`callbacks.checkpoint.dirpath=/big/disk`) would have it write over the checkpoints it
    resumes from, so each is this command's value (the command line may still name one)."""
    import logging

    from xlm.shown import show

    for pattern, suffix in _WRITES.items():
        head, _, leaf = pattern.rpartition(".")
        names = _get(merged, head.removesuffix(".*"))
        parents = [head.replace("*", str(name)) for name in names] if head.endswith("*") and isinstance(names, dict) else [head]
        for parent in parents:
            node = _get(merged, parent)
            if not isinstance(node, dict) or not isinstance(node.get(leaf), str) or _inside_run(node[leaf]):
                continue
            key, new = f"{parent}.{leaf}", _get(composed, f"{parent}.{leaf}")
            logging.getLogger("xlm").warning("note: the checkpoint's run wrote %s to '%s'; this run writes into its own "
                                             "run folder instead (pass %s=... to choose)", key, show(node[leaf]), key)
            node[leaf] = new if isinstance(new, str) else "${paths.output_dir}" + suffix.format(name=parent.rpartition(".")[2])


def _inside_run(place: str) -> bool:
    return place.startswith("${paths.output_dir}") and ".." not in place.split("/")


def _apply_command_line(merged: DictConfig, composed: DictConfig, overrides: list[str]) -> None:
    """Set in ``merged`` what ``overrides`` set in ``composed`` (the config Hydra composed from them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from xlm.config_groups import config_groups

    groups = config_groups()
    raw = OmegaConf.to_container(composed)
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key in RUN_NODES or key.split(".", 1)[0] in RUN_NODES:
            continue  # already the composed config's
        if key in groups:  # `~group` (no value) drops the selection
            _apply_selection(merged, raw, key, None if override.is_delete() else override.value())
        elif override.is_delete():
            _delete(merged, key)
        else:
            OmegaConf.update(merged, key, _get(raw, key), merge=False, force_add=True)


def _apply_selection(merged: DictConfig, raw: dict, group: str, value: Any) -> None:
    """``group=option`` (or a list of options): set what the options' files set, as composed.

    A group whose files fill a node of its own name (loggers, callbacks, lr_scheduler) gets
    that node whole, so ``loggers=[csv]`` drops a stored tensorboard logger; a global one
    (``debug=overfit``, ``trainer_strategy=ddp``) sets exactly the keys its file sets.
    """
    from hydra import compose

    from xlm.config_groups import config_groups

    top = group.split("/", 1)[0]
    options = [option for option in (value if isinstance(value, list) else [value]) if option is not None]
    examples = options or config_groups()[group][:1]
    pieces = [OmegaConf.to_container(compose(config_name=f"{group}/{option}")) for option in examples]
    own_node = all(list(piece) in ([top], []) for piece in pieces)
    if own_node:
        if top in raw:
            OmegaConf.update(merged, top, raw[top], merge=False, force_add=True)
        else:  # `~loggers`
            _delete(merged, top)
        return
    if not options:
        raise UserError(
            f"~{group} cannot undo what {group} set in the checkpoint's config",
            f"name the experiment too (experiment=... ~{group} ckpt_path=...) to compose the config anew",
        )
    for piece in pieces:
        for key in _leaves(piece):
            OmegaConf.update(merged, key, _get(raw, key), merge=False, force_add=True)


def _leaves(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        keys += _leaves(value, f"{prefix}{key}.") if isinstance(value, dict) and value else [f"{prefix}{key}"]
    return keys


def _get(node: Any, key: str) -> Any:
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node.get(part) if isinstance(node, dict) else None
    return node


def _delete(cfg: DictConfig, key: str) -> None:
    parent_key, _, name = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if isinstance(parent, DictConfig) and name in parent:
        del parent[name]


def stored_job_name(path: str) -> str | None:
    """The checkpoint's ``job_name`` (names eval and generate folders after the experiment)."""
    name = stored_config(path).get("job_name")
    return name if isinstance(name, str) and name else None


def memorised_note(cfg: DictConfig, split: str) -> str | None:
    """What to say when a job's data are the memorised batch of ``debug=overfit``."""
    count = (cfg.get("datamodule") or {}).get("overfit_examples")
    if not count:
        return None
    return (
        f"the data are the {count} memorised training examples of debug=overfit "
        f"(datamodule.overfit_examples={count}), not the {split} split; "
        f"add datamodule.overfit_examples=null to use the real {split} split"
    )

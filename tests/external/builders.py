"""Build real model folders, models files and installed distributions on disk for the tests."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

# Imported by nothing but the tests' own code: if validation ever imports a model, this fires.
NO_IMPORT = 'raise RuntimeError("validation must never import model code")\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def model_files(name: str, package: str | None = None, configs: str = "configs") -> dict[str, str]:
    """The files of a small valid model (the seed's layout); keys are paths relative to the root."""
    pkg = package or name
    cls = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name))
    return {
        f"{pkg}/__init__.py": f'"""{name}: a test model."""\nfrom .model import {cls}Model\n',
        f"{pkg}/model.py": NO_IMPORT + f"\n\nclass {cls}Model:\n    pass\n",
        f"{pkg}/loss.py": NO_IMPORT + f"\n\nclass {cls}Loss:\n    def loss_fn(self, batch):\n        return {{}}\n",
        f"{pkg}/predictor.py": NO_IMPORT + f"\n\nclass {cls}Predictor:\n    pass\n",
        f"{pkg}/collators.py": NO_IMPORT + f"\n\nclass Default{cls}Collator:\n    pass\n",
        f"{pkg}/metrics.py": NO_IMPORT + "\n\ndef mean_update_fn(batch, loss_dict, predictions):\n    return {}\n",
        f"{configs}/model/{name}.yaml": f"""\
            # @package _global_
            model:
              _target_: {pkg}.model.{cls}Model
              d_model: 8
            tags:
              model: {name}
            """,
        f"{configs}/model_type/{name}.yaml": f"""\
            # @package _global_
            lightning_module:
              _target_: xlm.harness.Harness
            loss:
              _target_: {pkg}.loss.{cls}Loss
            predictor:
              _target_: {pkg}.predictor.{cls}Predictor
            reported_metrics:
              train:
                lm:
                  accumulated_loss:
                    update_fn: {pkg}.metrics.mean_update_fn
            tags:
              model_type: {name}
            """,
        f"{configs}/collator/default_{name}.yaml": f"_target_: {pkg}.collators.Default{cls}Collator\n",
        f"{configs}/experiment/{name}_debug.yaml": f"""\
            # @package _global_
            defaults:
              - override /model_type: {name}
              - override /model: {name}
              - override /collator: default_{name}
            job_name: {name}_debug
            """,
    }


def make_model(
    parent: Path,
    name: str,
    package: str | None = None,
    files: dict[str, str | None] | None = None,
    configs: str = "configs",
    root: Path | None = None,
) -> Path:
    """Write a valid model in ``root`` (default ``parent/name``); ``files`` adds or replaces files (None: left out)."""
    root = root or parent / name
    content = {**model_files(name, package, configs), **(files or {})}
    for rel, text in content.items():
        if text is not None:
            write(root / rel, text)
    return root


def make_flat_model(parent: Path, name: str, files: dict[str, str | None] | None = None, root: Path | None = None) -> Path:
    """A valid model in xlm-core's flat layout: ``root`` is the package, with ``configs/`` inside it."""
    root = root or parent / name
    flat = {rel.split("/", 1)[1] if rel.startswith(f"{name}/") else rel: text for rel, text in model_files(name).items()}
    for rel, text in {**flat, **(files or {})}.items():
        if text is not None:
            write(root / rel, text)
    return root


def make_distribution(site: Path, dist: str, entry_points: dict[str, str], top_level: list[str]) -> Path:
    """An installed distribution's metadata in ``site`` (a folder put on sys.path by the test)."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    write(info / "entry_points.txt", f"[xlm.models]\n{lines}")
    write(info / "top_level.txt", "".join(f"{m}\n" for m in top_level))
    return info

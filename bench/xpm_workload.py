"""The repositories the xpm benchmarks fetch: varied model layouts on the tar record edge.

Each repository has N commits (tag `v1.0.<N-1>` on the last); a 256 KiB random binary
changes in every commit; each tree is a valid xlm model and a pip-installable package, and
its layout and file sizes vary from one repository to the next (`layout_of`). The tagged
tree is padded so that its `git archive` tar members end on the edge that broke tar-stream
exports: 512 bytes before a 10240-byte record for even repositories (the end-of-archive
blocks go out in a second record), exactly on a record for odd ones; `make_repo` checks each
with `git archive`. Used by `bench_xpm.py` and `bench_xpm_cpu.py`.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

BLOB = 256 * 1024
RECORD = 10240  # git archive writes tar in records of 20 blocks of 512 bytes


def model_files(name: str, commit: int, rng: random.Random, layout: dict) -> dict[str, tuple[str, bytes]]:
    """{path: (mode, content)} of one commit; `layout` (fixed per repository) varies the shape."""
    files = {
        f"{name}/__init__.py": b"",
        f"{name}/model.py": f"class Model:\n    revision = {commit}\n".encode(),
        f"configs/model/{name}.yaml": f"_target_: {name}.model.Model\n".encode(),
        f"configs/model_type/{name}.yaml": f"name: {name}\n".encode(),
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "bench-{name}"\nversion = "1.0.{commit}"\n'
            f'[tool.setuptools]\npackages = ["{name}"]\n'
        ).encode(),
        layout["weights"]: rng.randbytes(BLOB),
    }
    for k, size in enumerate(layout["modules"]):
        files[f"{name}/{'layers/' if k % 2 else ''}mod{k}.py"] = module_text(k, size).encode()
    for k, size in enumerate(layout["configs"]):
        # 10 bytes a line, each key once (a key twice in one mapping is refused, as OmegaConf refuses it)
        files[f"configs/experiment/{name}_{k}.yaml"] = (f"# @package _global_\n# experiment {k}\n" + "".join(f"k{i:03d}: 0.1\n" for i in range(size // 10))).encode()
    for k, size in enumerate(layout["assets"]):
        files[f"assets/table{k}.txt"] = rng.randbytes(size // 2).hex().encode()
    out = {path: ("100644", data) for path, data in files.items()}
    if layout["script"]:
        out["scripts/train.sh"] = ("100755", b"#!/bin/sh\nexec xlm train \"$@\"\n")
    return out


def module_text(k: int, size: int) -> str:
    """About `size` bytes of ordinary Python (what a model's modules hold: functions, docstrings)."""
    block = "def layer_{j}(x, scale={j}):\n    \"\"\"Scale x by {j}.\"\"\"\n    return [v * scale for v in x]\n\n\n"
    return f'"""Module {k}."""\n\n\n' + "".join(block.format(j=j) for j in range(size // 80))


def layout_of(index: int) -> dict:
    """A repository's shape: where the weights live, how many modules, configs and assets of
    which sizes (a model is mostly code and configs, a few KiB each; assets up to 64 KiB)."""
    rng = random.Random(1000 + index)
    return {
        "weights": rng.choice(["weights.bin", "assets/weights.bin", "data/init/weights.bin"]),
        "modules": [rng.randrange(500, 8000) for _ in range(rng.randrange(0, 5))],
        "configs": [rng.randrange(10, 3000) for _ in range(rng.randrange(0, 5))],
        "assets": [rng.randrange(0, 65536) for _ in range(rng.randrange(0, 4))],
        "script": index % 3 == 0,
    }


def tar_members_end(files: dict[str, tuple[str, bytes]]) -> int:
    """Where `git archive --format=tar <commit>` ends its members: a pax global header (the
    commit id), then a header per folder and per file, file data padded to 512 bytes.
    Exact for paths under 100 bytes (longer ones get extended headers)."""
    assert all(len(p) < 100 for p in files)
    folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    return 1024 + 512 * len(folders) + sum(512 + -(-len(data) // 512) * 512 for _, data in files.values())


def members_end_of_archive(path: Path, ref: str) -> int:
    stream = subprocess.run(["git", "archive", "--format=tar", ref], cwd=path, capture_output=True, check=True).stdout
    offset = 0
    while stream[offset:offset + 512] != bytes(512):
        offset += 512 + -(-int(stream[offset + 124:offset + 136].rstrip(b"\0 ") or b"0", 8) // 512) * 512
    return offset


def tag_of(commits: int) -> str:
    return f"v1.0.{commits - 1}"  # the version of the last commit: v1.0.29 for 30 commits


def make_repo(path: Path, name: str, commits: int, index: int) -> None:
    """A bare repository written with `git fast-import` (seconds, not minutes), tagged on
    its last commit, whose tagged tree ends its tar members on a record edge (see the module
    docstring): 512 bytes short of a record for even indexes, exactly on one for odd ones."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    rng, layout = random.Random(index), layout_of(index)
    out = bytearray()
    files: dict[str, tuple[str, bytes]] = {}
    for i in range(commits):
        out += f"commit refs/heads/main\nmark :{i + 1}\ncommitter bench <bench@example.com> {1_700_000_000 + i} +0000\n".encode()
        msg = f"revision {i}".encode()
        out += b"data %d\n%s\n" % (len(msg), msg)
        if i:
            out += f"from :{i}\n".encode()
        files = model_files(name, i, rng, layout)
        if i == commits - 1:
            edge = RECORD - 512 if index % 2 == 0 else 0
            files["padding.bin"] = ("100644", b"")
            short = (edge - tar_members_end(files)) % RECORD  # padding.bin's data, in whole blocks
            files["padding.bin"] = ("100644", rng.randbytes(short))
        for rel, (mode, data) in files.items():
            out += f"M {mode} inline {rel}\n".encode() + b"data %d\n" % len(data) + data + b"\n"
    out += f"reset refs/tags/{tag_of(commits)}\nfrom :{commits}\n\n".encode()
    subprocess.run(["git", "fast-import", "--quiet"], input=bytes(out), cwd=path, check=True)
    end = members_end_of_archive(path, tag_of(commits))
    assert end == tar_members_end(files) and end % RECORD in (0, RECORD - 512), (name, end)

"""What xlm and xpm both read: the lock format, install stamps, the content hash, run records.

The layer below both tools, so the arrows run one way (xpm -> here <- xlm): it imports only
the standard library and `xlm.manifest` / `xlm.textfile` (nothing of xpm, nothing heavy of
xlm), and nothing here imports hashlib or tomllib at module level, so xlm's start-up
and a warm `xpm install` stay a few `stat` calls per file (tests/provenance/test_layering.py).

- ``treehash``: the `sha256-tree:` content hash of a model's files (docs/xpm.md);
- ``lockfile``: the lock format: reading `xlm.lock` and its checks, and the writer of it and of
  `models.lock` (xpm writes `xlm.lock` through `xpm.lock`);
- ``stamps``: xpm's install stamps, and `vendored_state`: is a vendored folder the locked one;
- ``statcheck``: the stat comparison that proves a vendored file unchanged (stamps and xpm's
  no-op proof, `xpm.noop`, share it; imports only `os` and `stat`);
- ``runs``: a run's record of the models it used (`models.lock`, `checkpoint["xlm"]["models"]`),
  written by xlm, read by `xlm runs`, the drift check and `xpm install --from-run`
  (docs/reproducibility.md);
- ``checkpoint``: that record read from a checkpoint file without torch, running nothing of it.
"""

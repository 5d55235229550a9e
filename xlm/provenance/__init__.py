"""Which code made this run: every job records the models it used, and checks a checkpoint's.

- ``recorder``: a job's record, taken at its start (in the background while torch loads), written
  by rank 0 into ``<run>/models.lock`` and every checkpoint; the drift check runs first;
- ``collect``: one model's record: kind, source, commit, hash of the files used, requirements;
- ``worktree``: what git says about the work tree a model folder is in (HEAD, dirty, patch);
- ``drift``: the checkpoint's record against the code here, and the two-line refusal;
- ``callback``: the Lightning callback that puts the record in checkpoints;
- ``runs_command``: ``xlm runs show|diff``.

The record's format is `xlm.records.runs` (the layer xpm reads too): docs/reproducibility.md.
"""

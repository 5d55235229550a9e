"""The Lightning callback that stores a job's model record in every checkpoint it saves.

A callback, not a hook of the harness: a model's own LightningModule (`lightning_module._target_`)
need not call anything for its checkpoints to carry the record, and `callbacks=none` does not
drop it (the jobs add it themselves, not the config).
"""

from __future__ import annotations

from typing import Any, Callable

import lightning as L


class RecordInCheckpoint(L.Callback):
    """`checkpoint["xlm"]["models"] = record()` on every save (`record` may wait for the recording)."""

    def __init__(self, record: Callable[[], dict | None]) -> None:
        self.record = record

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict) -> None:
        stored = self.record()
        if stored is not None:
            checkpoint.setdefault("xlm", {})["models"] = stored

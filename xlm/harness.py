"""``xlm.harness.Harness``: the LightningModule every model trains under, built from the config.

The harness owns the loop glue and nothing model-specific: it instantiates ``cfg.model``,
then ``cfg.loss`` and ``cfg.predictor`` (handing them the model and the tokenizer), the
metrics of ``cfg.reported_metrics``, the optimizer and the LR schedule. A step is "loss,
maybe predict, update metrics, log". The resolved config is saved in every checkpoint, so
a checkpoint alone is enough to rebuild the model (``xlm eval ckpt_path=...``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import lightning as L
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from xlm.optim import build_optimizer, build_scheduler
from xlm.tokenizer import register_resolvers, tokenizer_from_config

SPLITS = ("train", "val", "test")


def batch_size_of(batch: Mapping[str, Any]) -> int:
    """Examples in a batch: the first dimension of its first tensor."""
    for value in batch.values():
        if isinstance(value, Tensor) and value.ndim > 0:
            return int(value.size(0))
    raise ValueError("a batch must contain at least one tensor with a batch dimension")


class MetricSlot:
    """One reported metric: where it logs, the function that feeds it, and the metric module's key."""

    def __init__(self, split: str, group: str, name: str, update_fn: Any, prog_bar: bool) -> None:
        self.split, self.update_fn, self.prog_bar = split, update_fn, prog_bar
        self.log_name = f"{split}/{group}/{name}"


class Harness(L.LightningModule):
    """Trains, evaluates and runs the predictor of the model the config describes.

    ``predict_on`` names the evaluation splits whose steps also run the predictor (so that
    prediction metrics such as exact match are computed there); training steps never predict.
    """

    def __init__(self, cfg: Mapping | DictConfig, tokenizer: Any = None, predict_on: Iterable[str] = ("val", "test")) -> None:
        super().__init__()
        register_resolvers()
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        self.save_hyperparameters({"cfg": cfg, "predict_on": list(predict_on)})
        self.cfg = OmegaConf.create(cfg)
        self.predict_on = set(predict_on)
        self.tokenizer = tokenizer if tokenizer is not None else tokenizer_from_config(self.cfg.tokenizer)
        self.model: nn.Module = instantiate(self.cfg.model)
        self.loss_fn = instantiate(self.cfg.loss, model=self.model, tokenizer=self.tokenizer)
        predictor = self.cfg.get("predictor")
        self.predictor = instantiate(predictor, model=self.model, tokenizer=self.tokenizer) if predictor else None
        self.metrics = nn.ModuleDict()
        self.metric_slots: dict[str, list[MetricSlot]] = {split: [] for split in SPLITS}
        self._build_metrics(self.cfg.get("reported_metrics") or {})

    def _build_metrics(self, spec: Mapping) -> None:
        for split, groups in spec.items():
            if split not in SPLITS:
                raise ValueError(f"reported_metrics.{split}: unknown split (use {', '.join(SPLITS)})")
            for group, metrics in (groups or {}).items():
                for name, item in (metrics or {}).items():
                    metric_spec = item.get("metric") or {"_target_": "torchmetrics.MeanMetric"}
                    slot = MetricSlot(split, group, name, get_method(item.update_fn), bool(item.get("prog_bar", False)))
                    self.metrics[slot.log_name] = instantiate(metric_spec)
                    self.metric_slots[split].append(slot)

    # ------------------------------------------------------------------------- steps

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        return self.model(input_ids, attention_mask=attention_mask, **kwargs)

    def _update_metrics(self, split: str, batch: Mapping, loss_dict: Mapping, predictions: Any) -> None:
        for slot in self.metric_slots[split]:
            kwargs = slot.update_fn(batch, loss_dict, predictions)
            if kwargs is not None:
                self.metrics[slot.log_name].update(**kwargs)

    def _log_eval_metrics(self, split: str, size: int) -> None:
        for slot in self.metric_slots[split]:
            metric = self.metrics[slot.log_name]
            if metric.update_called:  # a prediction metric on a split that does not predict stays silent
                self.log(slot.log_name, metric, on_step=False, on_epoch=True, prog_bar=slot.prog_bar, batch_size=size)

    def _is_logging_step(self) -> bool:
        """Whether Lightning writes this training step's values to the loggers.

        It does so every ``log_every_n_steps``; each ``self.log`` costs about a millisecond,
        which on a small model is several percent of the step, so other steps log nothing.
        """
        every = self.trainer.log_every_n_steps
        return every <= 1 or bool(self.trainer.fast_dev_run) or (self.global_step + 1) % every == 0

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss_dict = self.loss_fn(batch)
        self._update_metrics("train", batch, loss_dict, None)
        if self._is_logging_step():
            size = batch_size_of(batch)
            self.log("train/loss", loss_dict["loss"].detach(), prog_bar=True, batch_size=size)
            # Training metrics report the steps since the last log, then start over.
            for slot in self.metric_slots["train"]:
                metric = self.metrics[slot.log_name]
                if metric.update_called:
                    self.log(slot.log_name, metric.compute(), prog_bar=slot.prog_bar, batch_size=size)
                    metric.reset()
        return loss_dict["loss"]

    def _eval_step(self, split: str, batch: dict) -> None:
        loss_dict = self.loss_fn(batch)
        size = batch_size_of(batch)
        self.log(f"{split}/loss", loss_dict["loss"], on_epoch=True, prog_bar=True, sync_dist=True, batch_size=size)
        predictions = self.predictor(batch) if self.predictor is not None and split in self.predict_on else None
        self._update_metrics(split, batch, loss_dict, predictions)
        self._log_eval_metrics(split, size)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step("test", batch)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        """Predictions plus, when the batch has them, the decoded prompt and target (for `xlm generate`)."""
        if self.predictor is None:
            raise ValueError("this config has no 'predictor'; set one in the model_type config")
        out = dict(self.predictor(batch))
        for key, field in (("prompt", "prompt_ids"), ("target", "target_ids")):
            if field in batch:
                out[key] = self.tokenizer.batch_decode(batch[field], skip_special_tokens=True)
        return out

    # ------------------------------------------------------------------------- optimisation

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self, OmegaConf.to_container(self.cfg.optimizer, resolve=True))
        spec = self.cfg.get("lr_scheduler")
        if not spec:
            return optimizer
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        scheduler = build_scheduler(optimizer, OmegaConf.to_container(spec, resolve=True), int(total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}


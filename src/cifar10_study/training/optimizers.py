"""Optimisers and learning-rate schedules, chosen by their params name (`<stage>.train.optimizer.name`,
`<stage>.train.schedule.name`); an unknown name is a one-line ConfigError listing the valid ones."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError
from .device import settings_for
from .recipe import OptimizerConfig, ScheduleConfig


def make_optimizer(model: nn.Module, cfg: OptimizerConfig, device: torch.device) -> torch.optim.Optimizer:
    fast = {"fused": True} if settings_for(device).fused_optimizer else {}
    params = model.parameters()
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay, **fast)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    raise ConfigError(f"unknown optimizer {cfg.name!r}; valid: sgd, adam, adamw")


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule stepped once per optimisation step; its length derives from epochs, never written twice."""
    total = epochs * steps_per_epoch
    if cfg.name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if cfg.name == "cosine":
        # After the last of `total` steps the lr is exactly min_lr.
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.min_lr)
    if cfg.name == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        # cycle_momentum=False: the momentum stays what optimizer.momentum says.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total,
                                                   pct_start=cfg.pct_start, cycle_momentum=False)
    if cfg.name == "step":
        # Milestones are fractions of training, so the quick and smoke profiles scale them with epochs.
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=[round(m * total) for m in cfg.milestones], gamma=cfg.gamma)
    raise ConfigError(f"unknown schedule {cfg.name!r}; valid: constant, cosine, onecycle, step")

"""Stage 3: a small residual CNN whose modern components are switches.

residual (skip connections), batchnorm and dropout (before the classifier) are config keys, so every
ablation is the same class with one switch off. Without batch norm the convolutions get biases;
without residual connections a block is two plain conv layers.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from ..schema import PositiveInt, Section
from .baseline import IMAGE_SHAPE, NUM_CLASSES


class ResidualCNNConfig(Section):
    name: Literal["residual_cnn"]
    channels: list[PositiveInt] = Field(min_length=1, max_length=5)  # per stage; stages 2.. halve the resolution
    blocks_per_stage: PositiveInt = 1
    residual: bool = True
    batchnorm: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)  # on the pooled features, before the classifier

    def build(self) -> nn.Module:
        return ResidualCNN(self)


def conv_bn(in_ch: int, out_ch: int, stride: int, batchnorm: bool, kernel: int = 3) -> nn.Sequential:
    """conv -> [BN]; the conv has a bias only when no BN follows (BN's shift makes it redundant)."""
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class Block(nn.Module):
    """Two 3x3 conv(-BN) layers; with `residual`, out = ReLU(f(x) + shortcut(x)), else ReLU(f(x)).
    The shortcut is the identity, or a strided 1x1 conv(-BN) where the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, residual: bool, batchnorm: bool):
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_ch, out_ch, stride, batchnorm), nn.ReLU(),
                                  conv_bn(out_ch, out_ch, 1, batchnorm))
        self.residual = residual
        if residual and (stride != 1 or in_ch != out_ch):
            self.shortcut = conv_bn(in_ch, out_ch, stride, batchnorm, kernel=1)
        else:
            self.shortcut = nn.Identity() if residual else None
        self.act = nn.ReLU()

    def forward(self, x):
        out = self.body(x)
        if self.residual:
            out = out + self.shortcut(x)
        return self.act(out)


class ResidualCNN(nn.Module):
    """stem conv(-BN)-ReLU -> stages of blocks (the first block of stages 2.. has stride 2) ->
    global average pool -> dropout -> linear classifier."""

    def __init__(self, cfg: ResidualCNNConfig):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(IMAGE_SHAPE[0], cfg.channels[0], 1, cfg.batchnorm), nn.ReLU())
        blocks, in_ch = [], cfg.channels[0]
        for s, out_ch in enumerate(cfg.channels):
            for b in range(cfg.blocks_per_stage):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(Block(in_ch, out_ch, stride, cfg.residual, cfg.batchnorm))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout),
                                  nn.Linear(in_ch, NUM_CLASSES))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))

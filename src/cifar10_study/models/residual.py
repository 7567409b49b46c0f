"""Residual CNNs: Stage 3's small network, and ResNet-18 / SE-ResNet-18 (Stages 4 and 5), one class.

residual (skip connections), batchnorm, dropout (before the classifier) and squeeze-and-excitation are
options of the same blocks, so every ablation is this class with one option off. Without batch norm the
convolutions get biases; without residual connections a block is two plain conv layers.
ResNet-18 (CIFAR variant, He et al. 2016 as trained on CIFAR by most reproductions): 3x3 stride-1 stem,
no max-pool, BasicBlocks [2, 2, 2, 2] at widths 64-128-256-512, global average pool, linear head.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn

from ..core.schema import PositiveInt, Section
from ..data import IMAGE_SHAPE, NUM_CLASSES


class ResidualCNNConfig(Section):
    name: Literal["residual_cnn"]
    channels: list[PositiveInt] = Field(min_length=1, max_length=5)  # per stage; stages 2.. halve the resolution
    blocks_per_stage: PositiveInt = 1
    residual: bool = True
    batchnorm: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)  # on the pooled features, before the classifier
    se_reduction: PositiveInt | None = None  # squeeze-and-excitation in every block (channel reduction); None: off

    def build(self) -> nn.Module:
        return ResidualCNN(self)


RESNET18_CHANNELS = [64, 128, 256, 512]
RESNET18_BLOCKS = 2


class ResNet18Config(Section):
    """ResNet-18, CIFAR variant; with `se_reduction`, SE-ResNet-18 (an SE module in every block)."""

    name: Literal["resnet18"]
    se_reduction: PositiveInt | None = None

    def residual_config(self) -> ResidualCNNConfig:
        return ResidualCNNConfig(name="residual_cnn", channels=RESNET18_CHANNELS, blocks_per_stage=RESNET18_BLOCKS,
                                 se_reduction=self.se_reduction)

    def build(self) -> nn.Module:
        return ResidualCNN(self.residual_config())


def conv_bn(in_ch: int, out_ch: int, stride: int, batchnorm: bool, kernel: int = 3) -> nn.Sequential:
    """conv -> [BN]; the conv has a bias only when no BN follows (BN's shift makes it redundant)."""
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): x [B, C, H, W] scaled per channel by a gate in (0, 1)
    computed from its global average: sigmoid(W2 ReLU(W1 mean_hw(x))), W1: C -> C/r, W2: C/r -> C."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(),
                                     nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def gates(self, x):
        return self.squeeze(x)  # [B, C, 1, 1]

    def forward(self, x):
        return x * self.gates(x)


class Block(nn.Module):
    """Two 3x3 conv(-BN) layers (then SE, if on); with `residual`, out = ReLU(f(x) + shortcut(x)), else
    ReLU(f(x)). The shortcut is the identity, or a strided 1x1 conv(-BN) where the shape changes."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, residual: bool, batchnorm: bool,
                 se_reduction: int | None = None):
        super().__init__()
        body = [conv_bn(in_ch, out_ch, stride, batchnorm), nn.ReLU(), conv_bn(out_ch, out_ch, 1, batchnorm)]
        if se_reduction is not None:
            body.append(SqueezeExcite(out_ch, se_reduction))  # recalibrates the residual branch, as in SE-ResNet
        self.body = nn.Sequential(*body)
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
                blocks.append(Block(in_ch, out_ch, stride, cfg.residual, cfg.batchnorm, cfg.se_reduction))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout),
                                  nn.Linear(in_ch, NUM_CLASSES))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))

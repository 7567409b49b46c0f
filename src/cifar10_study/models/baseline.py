"""Stage 1 models: the Conv -> activation -> pool baseline CNN, and a plain softmax (linear) classifier.

The baseline's "linear" variants compose from the same class: activation "identity" removes every
non-linearity, and pool "avg" makes the pooling linear too, so the whole network becomes one affine map.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from pydantic import Field
from torch import nn

from ..core.schema import PositiveInt, Section
from ..data import IMAGE_SHAPE, NUM_CLASSES, PIXELS

ACTIVATIONS = {"relu": nn.ReLU, "identity": nn.Identity}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class BaselineCNNConfig(Section):
    name: Literal["baseline_cnn"]
    # Output channels of each stage; every stage ends in a 2x2 pool, so 32 px allows at most 5 stages.
    channels: list[PositiveInt] = Field(min_length=1, max_length=5)
    convs_per_stage: PositiveInt = 1  # Stage 2's depth variants add conv -> activation pairs here
    hidden: int = Field(256, ge=0)  # width of the hidden fully connected layer; 0 = none
    activation: Literal["relu", "identity"] = "relu"
    pool: Literal["max", "avg"] = "max"

    def build(self) -> nn.Module:
        return BaselineCNN(self)

    def scaled(self, width: int = 1, convs_per_stage: int | None = None) -> "BaselineCNNConfig":
        """This network with every conv's channels multiplied by `width` and, if given, a new depth per
        stage (Stage 2's scaling variants and its parameter-explosion widths)."""
        update = {"channels": [c * width for c in self.channels]}
        if convs_per_stage is not None:
            update["convs_per_stage"] = convs_per_stage
        return self.model_copy(update=update)


class SoftmaxConfig(Section):
    """Multinomial logistic regression on the raw (normalised) pixels."""

    name: Literal["softmax"]

    def build(self) -> nn.Module:
        return nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc=nn.Linear(PIXELS, NUM_CLASSES)))


class BaselineCNN(nn.Module):
    """[conv3x3 -> act] x convs_per_stage -> pool2x2, per stage; then flatten -> [fc -> act] -> fc."""

    def __init__(self, cfg: BaselineCNNConfig):
        super().__init__()
        act, pool = ACTIVATIONS[cfg.activation], POOLS[cfg.pool]
        stages, in_ch = [], IMAGE_SHAPE[0]
        for s, out_ch in enumerate(cfg.channels, start=1):
            layers = OrderedDict()
            for c in range(1, cfg.convs_per_stage + 1):
                layers[f"conv{c}"] = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
                layers[f"act{c}"] = act()
                in_ch = out_ch
            layers["pool"] = pool(kernel_size=2)
            stages.append((f"stage{s}", nn.Sequential(layers)))
        self.features = nn.Sequential(OrderedDict(stages))
        side = IMAGE_SHAPE[1] // 2 ** len(cfg.channels)
        flat = in_ch * side * side
        head = OrderedDict(flatten=nn.Flatten())
        if cfg.hidden:
            head["fc1"] = nn.Linear(flat, cfg.hidden)
            head["act"] = act()
            flat = cfg.hidden
        head["fc_out"] = nn.Linear(flat, NUM_CLASSES)
        self.head = nn.Sequential(head)

    def forward(self, x):
        return self.head(self.features(x))

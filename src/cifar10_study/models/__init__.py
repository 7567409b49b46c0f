"""Model registry: the params `name` selects a config class, and the config builds the module.

The registry is a pydantic discriminated union, so an unknown `name` in params.yaml fails validation at
once with the list of valid names, before any work starts.
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter
from torch import nn

from .baseline import BaselineCNNConfig, SoftmaxConfig
from .residual import ResidualCNNConfig, ResNet18Config

ModelConfig = Annotated[Union[BaselineCNNConfig, SoftmaxConfig, ResidualCNNConfig, ResNet18Config],
                        Field(discriminator="name")]


def build_model(cfg: ModelConfig) -> nn.Module:
    return cfg.build()


def model_config(recorded: dict) -> ModelConfig:
    """The config object of a model config recorded as a dict (e.g. in a run's info file)."""
    return TypeAdapter(ModelConfig).validate_python(recorded)

"""Every model family's config in one union: the params `name` selects a config class, and the config builds
the module. Only what must accept any model imports it (a run folder's recorded config, read back by evaluate
and predict); a stage imports the one family it trains, so it depends on that network's code alone.

The registry is a pydantic discriminated union, so an unknown `name` fails validation at once with the list of
valid names.
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from .baseline import BaselineCNNConfig, SoftmaxConfig
from .residual import ResidualCNNConfig, ResNet18Config

ModelConfig = Annotated[Union[BaselineCNNConfig, SoftmaxConfig, ResidualCNNConfig, ResNet18Config],
                        Field(discriminator="name")]


def model_config(recorded: dict) -> ModelConfig:
    """The config object of a model config recorded as a dict (e.g. in a run's info file)."""
    return TypeAdapter(ModelConfig).validate_python(recorded)

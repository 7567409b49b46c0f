"""The project's error types: each carries a one-line message that names what is wrong and what to do."""


class StudyError(Exception):
    """Base class: a user-facing failure. Stage entry points print its message on one line and exit 2."""


class ConfigError(StudyError):
    """params.yaml is missing, unparsable, or holds an unknown key or a bad value."""


class DataError(StudyError):
    """The CIFAR-10 source cannot be fetched, or does not have the official layout, dtypes or shapes."""


class TrainingDiverged(StudyError):
    """The training loss became NaN or infinite."""

    def __init__(self, run: str, epoch: int, step: int, loss: float):
        self.run, self.epoch, self.step, self.loss = run, epoch, step, loss
        super().__init__(
            f"run {run!r} diverged: training loss became {loss} at epoch {epoch}, step {step} "
            f"(step counted from the start of training); lower the learning rate or check the data"
        )

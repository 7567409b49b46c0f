"""DVC stage `check_params`: validate all of params.yaml before any other stage runs.

Every other stage depends on this one's marker file, so DVC runs it first. DVC deletes a stage's
outputs just before running it; validating here means a broken params.yaml stops the pipeline before
any output is touched. The marker's content never changes, so a valid edit reruns nothing extra.
"""
from cifar10_study.core.cli import stage_entry
from cifar10_study.core.fileio import write_text
from cifar10_study.params import load_params

MARKER = "data/params.ok"


@stage_entry
def main() -> None:
    load_params()
    write_text(MARKER, "params.yaml is valid\n")


if __name__ == "__main__":
    main()

"""DVC stage `report`: reports/report.md from the metrics and plots of every stage."""
from pathlib import Path

from cifar10_study.cli import stage_entry
from cifar10_study.config import load_params
from cifar10_study.report import write_report


@stage_entry
def main() -> None:
    load_params()  # a broken params.yaml stops here too, before anything is rewritten
    write_report(Path("reports/report.md"))
    print("wrote reports/report.md")


if __name__ == "__main__":
    main()

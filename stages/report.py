"""DVC stage `report`: reports/report.md, its figures and the study summary, from every stage's runs."""
from pathlib import Path

from cifar10_study.core.cli import stage_entry
from cifar10_study.reporting.report import write_report


@stage_entry
def main() -> None:
    write_report(Path("reports/report.md"))
    print("wrote reports/report.md")


if __name__ == "__main__":
    main()

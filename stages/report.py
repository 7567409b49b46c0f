"""DVC stage `report`: reports/report.md, its figures and the study summary, and what the machine measured
(reports/timing.md), from every stage's runs."""
from pathlib import Path

from cifar10_study.core.cli import stage_entry
from cifar10_study.reporting.report import write_report


@stage_entry
def main() -> None:
    write_report(Path("reports/report.md"))
    print("wrote reports/report.md, summary.md, timing.md, tables/, figures/")


if __name__ == "__main__":
    main()

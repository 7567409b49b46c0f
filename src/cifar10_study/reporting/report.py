"""reports/report.md, its tables and figures, generated from the runs' files under runs/ through the
analysis functions (nothing typed in).

Every sentence with a number is formatted from data, so the prose cannot contradict the tables. The study
is loaded once (study.py); each section is a function of it returning Markdown (header.py, stage1_report.py,
stage2_report.py, stage3_report.py, stage45_report.py), and figures.py draws every figure from it. This
module assembles them and writes the files. Sections for stages whose runs are not all there yet are left
out (analysis/available.py). What the machine measured goes to reports/timing.md (timing_report.py) and
reports/tables/timing.csv, beside the files DVC tracks, never into them (analysis/measurements.py).
"""
from __future__ import annotations

from pathlib import Path

from ..core.fileio import write_csv, write_text
from ..core.params_file import load
from . import figures, summary, timing_report
from .comparison_wording import primary_sentence
from .findings_report import findings_section
from .header import header
from .stage1_report import stage1_section
from .stage2_report import stage2_section, stress_sections
from .stage3_report import stage3_section
from .stage45_report import stage4_section, stage5_section
from .study import ReportParams, Study
from .tables import parameter_table

TABLES = Path("reports/tables")


def _summary_section(study: Study, results: list[summary.StageResult]) -> list[str]:
    """The summary table, the best runs' figure, the primary test's claim and the training budgets."""
    primary = ([primary_sentence(study.stage5.primary, study.stage5.statistics.alpha), ""]
               if study.stage5 is not None else [])
    return ["## Summary", "", summary.markdown(results), "",
            "![Best run of each stage](figures/study_val_accuracy.png)", "",
            *primary,
            summary.budgets(results), "",
            "Test accuracy is the final epoch's; where a stage has several seeds it is their mean +- std. The figure "
            "shows, for each stage, the run with the best final validation accuracy (a stage whose runs trained on "
            "the validation split has none).", ""]


def build_report(study: Study, results: list[summary.StageResult]) -> str:
    """The report's Markdown: the header, the summary (`results`, from summary.collect) and every section."""
    lines = [header(study), "", *_summary_section(study, results), *findings_section(study), *stage1_section(study)]
    if study.variants is not None:
        lines += stage2_section(study)
    if study.stress is not None:
        lines += stress_sections(study.stress)
    if study.variants is not None and "stage3" in study.done:
        lines += stage3_section(study)
    if study.stage4 is not None:
        lines += stage4_section(study.stage4)
    if study.stage5 is not None:
        lines += stage5_section(study.stage5)
    return "\n".join(lines)


def write_report(path: Path = Path("reports/report.md")) -> None:
    """reports/report.md, summary.md, timing.md, tables/ and figures/, from the runs and params.yaml."""
    study = Study.load(load(ReportParams))
    results = summary.collect(study)
    write_text(path, build_report(study, results))
    write_text(summary.TABLE_MD, summary.markdown(results) + "\n")
    write_text(timing_report.TIMING_MD, timing_report.timing_report(study, results) + "\n")
    write_csv(summary.TABLE_CSV, summary.csv_table(results))
    write_csv(timing_report.TIMING_CSV, timing_report.csv_table(results))
    write_csv(TABLES / "stage1_param_table.csv", parameter_table(study.baseline["layers"]))
    figures.draw_all(study, results)

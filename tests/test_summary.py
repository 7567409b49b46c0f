"""The README shows the generated summary table, byte for byte, and the sync replaces only its block."""
import pytest

from cifar10_study.core.errors import StudyError
from cifar10_study.reporting.summary import README_END, README_START, readme_block, sync_readme
from test_config import ROOT


def test_readme_shows_the_committed_generated_summary():
    generated = (ROOT / "reports/summary.md").read_text().strip()
    assert generated.count("\n| ") >= 4  # a header, a rule and a row per stage
    assert readme_block(ROOT / "README.md") == generated, "run: ./run.sh readme"


def test_sync_replaces_only_the_block_between_the_markers(tmp_path):
    readme, summary = tmp_path / "README.md", tmp_path / "summary.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    summary.write_text("| a |\n|---|\n| 1 |\n")
    sync_readme(readme, summary)
    assert readme.read_text() == f"intro\n{README_START}\n| a |\n|---|\n| 1 |\n{README_END}\noutro\n"
    sync_readme(readme, summary)  # idempotent
    assert readme_block(readme) == "| a |\n|---|\n| 1 |"


def test_a_readme_without_markers_is_a_clear_error(tmp_path):
    readme, summary = tmp_path / "README.md", tmp_path / "summary.md"
    readme.write_text("no markers here\n")
    summary.write_text("| a |\n")
    with pytest.raises(StudyError, match="no summary markers"):
        sync_readme(readme, summary)
    assert readme.read_text() == "no markers here\n"

"""The README and docs/ cannot drift from the code: the tables that describe config and metrics list exactly
what the code has, every `./run.sh` verb they use exists, every relative link resolves, and the README stays
an entry point (under 300 lines; the rest lives in docs/)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cifar10_study.analysis.headline import KEYS
from cifar10_study.training.runtime import RuntimeConfig
from helpers import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def _section(text: str, heading: str) -> str:
    """The text under `heading` (a Markdown heading line), up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.search(rf"^#{{1,{level}}} ", text[start:], flags=re.M)
    return text[start:start + end.start()] if end else text[start:]


def _table(text: str) -> list[list[str]]:
    """The rows of the first Markdown table in `text`, cells stripped, without the header and the rule."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _unquote(cell: str) -> str:
    return cell.strip("`")


def _as_written(value) -> str:
    """A default as the README writes it (YAML spelling: false, 60 rather than 60.0)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_readme_is_an_entry_point_under_300_lines():
    assert len(README.read_text().splitlines()) < 300


def test_the_runtime_table_lists_every_runtime_field_with_its_default():
    rows = _table(_section(README.read_text(), "### How to run: the `runtime` section"))
    table = {_unquote(key): _unquote(default) for key, default, _ in rows}
    fields = {name: _as_written(field.default) for name, field in RuntimeConfig.model_fields.items()}
    assert table == fields


def test_the_headline_table_is_the_headline_files_keys_and_meanings():
    rows = _table(_section(README.read_text(), "### Comparing experiments: the headline view"))
    assert {_unquote(key): meaning for key, meaning in rows} == KEYS


def test_the_readme_shows_a_headline_view_with_exactly_the_headline_columns_in_120_columns():
    view = _section(README.read_text(), "### Comparing experiments: the headline view")
    example = view.split("```\n")[1].splitlines()  # the first code block: the view's output
    assert max(map(len, example)) <= 120 and "…" not in "".join(example)
    assert example[1].split() == ["Experiment", *KEYS, "statistics.alpha"]


def _verbs() -> set[str]:
    """The verbs run.sh's `case` handles (besides running the pipeline, with or without -S overrides)."""
    cases = re.findall(r"^  ([a-z|-]+)\)", (ROOT / "run.sh").read_text(), flags=re.M)
    return {verb for case in cases for verb in case.split("|")}


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_run_sh_verb_in_the_docs_exists(doc):
    used = set(re.findall(r"\./run\.sh ([a-z][a-z-]*)", doc.read_text()))
    assert used <= _verbs(), f"{doc.name} uses ./run.sh verbs that run.sh does not have: {used - _verbs()}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.M)}


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: link to {target}: no such file"
        if anchor:
            assert anchor in _anchors(file), f"{doc.name}: link to {target}: no such heading"


def test_every_doc_is_linked_from_the_readme():
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", README.read_text()))
    assert linked == {doc.name for doc in DOCS}


def test_the_report_opens_with_the_summary_and_the_main_figure_which_the_readme_shows():
    report = (ROOT / "reports/report.md").read_text()
    summary = _section(report, "## Summary")
    assert report.index("## Summary") < report.index("## Stage 1")
    figure = re.search(r"!\[[^\]]*\]\(figures/([\w.]+)\)", summary).group(1)
    assert f"(reports/figures/{figure})" in README.read_text()
    assert "(reports/report.md)" in _section(README.read_text(), "## Results")

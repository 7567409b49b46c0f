"""Helpers of benchmarks/mutation.sh (mutmut 3): what is in scope, preparing the copy, and the report.

    python benchmarks/mutation_tools.py scope                  # the mutant name patterns, one a line
    python benchmarks/mutation_tools.py prepare WORK           # make `evaluate` mutable in the copy
    python benchmarks/mutation_tools.py timeouts WORK          # the mutants in scope that timed out
    python benchmarks/mutation_tools.py report WORK OUT SECONDS TEST_FILE...
"""
from __future__ import annotations

import csv
import fnmatch
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPLAINED = HERE / "mutation_explained.tsv"  # mutant name (or fnmatch pattern) <TAB> why it survives
PACKAGE = "cifar10_study"
MAX_DIFFS = 150  # more survivors than this are listed by name only

# The functions whose numbers or words decide the study's conclusion (mutmut's names: module.x_function,
# module.xǁClassǁmethod). Every function of these modules except where a pattern names functions.
SCOPE = {
    "analysis/stats.py": ["analysis.stats.*"],
    "analysis/comparisons.py": ["analysis.comparisons.*"],
    "analysis/calibration.py": ["analysis.calibration.*"],
    "analysis/findings.py": ["analysis.findings.*"],  # the rules that say whether a Stage 1-3 finding is shown
    # the verdict wording: the comparison table's rows and the Stage 5 sentences
    "reporting/comparison_wording.py": ["reporting.comparison_wording.*"],
    "reporting/stage45_report.py": ["reporting.stage45_report.x_stage5_section__mutmut_*",
                                    "reporting.stage45_report.x__configuration_rows__mutmut_*",
                                    "reporting.stage45_report.x__how_to_read__mutmut_*"],
    "training/evaluation.py": ["training.evaluation.x_evaluate__mutmut_*"],
    "training/engine.py": ["training.engine.x_soft_cross_entropy__mutmut_*"],
    "data/augment.py": ["data.augment.*"],
}
# MUTATION_MODULES="analysis/stats.py ...": a partial run over these modules of SCOPE only (e.g. the ones a
# change touched, when the whole run would not fit the time at hand); the report names them.
PARTIAL = os.environ.get("MUTATION_MODULES", "").split()
if set(PARTIAL) - set(SCOPE):
    sys.exit(f"MUTATION_MODULES: {sorted(set(PARTIAL) - set(SCOPE))} not in scope; valid: {', '.join(SCOPE)}")
if PARTIAL:
    SCOPE = {module: patterns for module, patterns in SCOPE.items() if module in PARTIAL}
PATTERNS = [f"{PACKAGE}.{p}" for patterns in SCOPE.values() for p in patterns]

# mutmut's exit-code classes (mutmut/stats.py). Only a failing test counts as killed here: a timeout is
# listed among the mutants not killed and needs its reason in mutation_explained.tsv like a survivor
# (mutmut's own CI score, `mutmut export-cicd-stats`, would count it as killed).
KILLED = {1, 3}
SURVIVED = {0}
TIMEOUT = {36, 24, -24, 152, 255}
STATUS = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def prepare(work: Path) -> None:
    """mutmut leaves decorated functions alone; `evaluate` is decorated with @torch.inference_mode().
    In the copy (never the checkout) the decorator becomes the equivalent rebinding after the module's
    last line, so mutmut mutates evaluate's body and every caller still gets the inference-mode version."""
    module = work / "src" / PACKAGE / "training" / "evaluation.py"
    text = module.read_text()
    decorated = "@torch.inference_mode()\ndef evaluate("
    if text.count(decorated) != 1:
        sys.exit(f"{module}: expected one '@torch.inference_mode()' on evaluate; update mutation_tools.prepare")
    text = text.replace(decorated, "def evaluate(")
    module.write_text(text + "\n\nevaluate = torch.inference_mode()(evaluate)\n")


def _in_scope(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in PATTERNS)


def _explanations() -> list[tuple[str, str]]:
    if not EXPLAINED.is_file():
        return []
    rows = csv.reader((line for line in EXPLAINED.read_text().splitlines() if line and not line.startswith("#")),
                      delimiter="\t")
    return [(row[0], row[1]) for row in rows]


def _why(name: str, explained: list[tuple[str, str]]) -> str | None:
    for pattern, reason in explained:
        if name == pattern or fnmatch.fnmatchcase(name, pattern):
            return reason
    return None


def _diff(work: Path, name: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, capture_output=True, text=True)
    lines = [line for line in shown.stdout.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return "\n".join(lines) or shown.stdout.strip()


def _results(work: Path) -> dict[str, dict[str, int | None]]:
    """module -> {mutant name: mutmut's exit code} for the mutants in scope."""
    results = {}
    for module in SCOPE:
        meta = work / "mutants" / "src" / PACKAGE / (module + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        results[module] = {name: code for name, code in codes.items() if _in_scope(name)}
    return results


def timeouts(work: Path) -> list[str]:
    return [name for codes in _results(work).values() for name, code in sorted(codes.items()) if code in TIMEOUT]


def report(work: Path, out: Path, seconds: int, tests: list[str]) -> None:
    results = _results(work)
    explained = _explanations()
    total, not_run = Counter(), 0
    rows, survivors = [], []
    for module, codes in results.items():
        count = Counter(STATUS.get(code, "suspicious") for code in codes.values())
        # A run stopped before the end (killed for time) leaves mutants never checked: counted apart, not scored.
        module_not_run = count.pop("not checked", 0)
        not_run += module_not_run
        total.update(count)
        checked = sum(count.values())
        rows.append(f"| {module} | {checked} | {count['killed']} | {count['survived']} | "
                    f"{checked - count['killed'] - count['survived']} | {_pct(count['killed'], checked)} | "
                    f"{module_not_run} |")
        survivors += [(module, name, STATUS.get(code, "suspicious")) for name, code in sorted(codes.items())
                      if code not in KILLED and code is not None]
    checked = sum(total.values())
    lines = [
        "# Mutation testing: the modules that decide the study's conclusion",
        "",
        "Written by `benchmarks/mutation.sh` (mutmut 3); do not edit by hand: reasons for survivors go in "
        "`benchmarks/mutation_explained.tsv`.",
        "",
        f"Test files: {', '.join(f'`{t}`' for t in tests)}. Run time: {seconds // 60} min {seconds % 60} s.",
        "",
        "| module (functions in scope) | mutants | killed | survived | other (no test, timeout) | killed % | not run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        f"| **all** | {checked} | {total['killed']} | {total['survived']} | "
        f"{checked - total['killed'] - total['survived']} | **{_pct(total['killed'], checked)}** | {not_run} |",
        "",
        "In scope: every function of analysis/stats.py, analysis/comparisons.py, analysis/calibration.py, "
        "analysis/findings.py, reporting/comparison_wording.py and data/augment.py (except `_scale_shift`, "
        "which mutmut skips as it is decorated with `lru_cache`); reporting/stage45_report.py's "
        "`stage5_section`, `_configuration_rows`, `_how_to_read`; training/evaluation.py's `evaluate` and "
        "training/engine.py's `soft_cross_entropy`. A mutant that timed out was run once more, alone, before "
        "this report; a timeout counts as not killed.",
        "",
        *([f"**Partial run** (MUTATION_MODULES): only {', '.join(SCOPE)}; the other modules' figures are in "
           f"other runs' reports (docs/testing.md lists the runs behind the current figures).", ""] if PARTIAL else []),
        *([f"**Stopped early**: {not_run} mutants in scope were never run (the run was cut short for time); the "
           f"scores above are over the {checked} that ran.", ""] if not_run else []),
        f"## Mutants not killed ({len(survivors)})",
        "",
    ]
    diffs = len(survivors) <= MAX_DIFFS  # `mutmut show` takes a second per mutant
    for module, name, status in survivors:
        why = _why(name, explained)
        if not diffs:
            lines.append(f"- `{name.removeprefix(PACKAGE + '.')}` ({status})" + (f": {why}" if why else ""))
            continue
        lines += [f"### `{name.removeprefix(PACKAGE + '.')}` ({status})", "", "```diff", _diff(work, name), "```", "",
                  f"Why it is left: {why}" if why else "Why it is left: NOT EXPLAINED", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines).rstrip() + "\n")
    unexplained = [name for _, name, _ in survivors if not _why(name, explained)]
    print(f"{total['killed']} of {checked} mutants killed ({_pct(total['killed'], checked)}); "
          f"{len(unexplained)} survivor(s) without an explanation")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "scope":
        print("\n".join(PATTERNS))
    elif command == "modules":
        print("\n".join(SCOPE))
    elif command == "prepare":
        prepare(Path(args[0]))
    elif command == "timeouts":
        for name in timeouts(Path(args[0])):  # nothing at all when there is none (not an empty line)
            print(name)
    elif command == "report":
        report(Path(args[0]), Path(args[1]), int(args[2]), args[3:])
    else:
        sys.exit(f"unknown command {command!r}; valid: scope, modules, prepare, timeouts, report")

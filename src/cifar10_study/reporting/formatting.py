"""How the report writes numbers: percentages, mean +- std over seeds, Markdown tables."""
from __future__ import annotations

import pandas as pd


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def md(df: pd.DataFrame, numparse: bool = True) -> str:
    """A Markdown table. numparse=False prints every cell exactly as given: tabulate would otherwise read a
    pre-formatted number such as "+10.00" as 10 and print "10" (sign and decimals lost)."""
    return df.to_markdown(index=False, disable_numparse=not numparse)


def mean_std(stat: dict) -> str:
    """A summarize() result {"n", "mean", "std"} as '91.20% +- 0.15% (3 seeds)' or '91.20% (1 seed)'."""
    spread = f" +- {pct(stat['std'])}" if stat["std"] is not None else ""
    return f"{pct(stat['mean'])}{spread} ({stat['n']} seed{'s' if stat['n'] > 1 else ''})"


def accuracy_over_seeds(record: dict) -> str:
    """A configuration's mean record (SeededRuns.mean_record) as its test accuracy's mean_std()."""
    return mean_std({"n": len(record["seeds"]), "mean": record["test_accuracy"], "std": record["test_accuracy_std"]})


def against_cell(d) -> str:
    """A seed_noise.Difference as a table cell: '-1.21 points (floor +-2.50: within seed noise)'."""
    if d is None:
        return ""
    return f"{100 * d.difference:+.2f} points (floor {d.floor_text}: {d.verdict})"


NOT_RECORDED = "not recorded"
# Where the report points for what the machine measured (reports/timing.md, beside report.md): kept out of the
# report, whose every line an identical rerun reproduces.
TIMING_LINK = "Time and memory on this machine: [timing.md](timing.md)."


def measured(value, template: str) -> str:
    """template.format(value) for a timing, memory or machine figure, or "not recorded" where the run carries
    none (None or NaN: a run restored from a DVC cache or remote has no timing.json)."""
    return NOT_RECORDED if value is None or value != value else template.format(value)


def mib(x) -> str:
    """A measured number of bytes in MiB, or "n/a" where it was not measured."""
    return "n/a" if x is None or x != x else f"{x / 2 ** 20:,.0f} MiB"

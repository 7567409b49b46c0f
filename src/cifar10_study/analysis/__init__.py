"""Numbers about runs, read from their files: statistics, comparisons, diagnostics, and the per-stage
summaries written to metrics/ and plots/. Never imported by training code."""

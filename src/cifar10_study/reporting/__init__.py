"""Words and pictures: the report, its sections and figures, the study summary, number formatting, tables."""

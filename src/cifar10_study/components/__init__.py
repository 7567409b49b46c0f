"""The components Stages 3 and 5 switch on and off, each declared once: the runs, their DVC stages, the analysis
and the report all follow from these declarations."""

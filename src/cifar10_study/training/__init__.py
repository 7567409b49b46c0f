"""Training: the one engine, checkpoints, recorders, measurements, and one run start to finish."""

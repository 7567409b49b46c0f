"""How well a classifier's confidence matches its accuracy, from its test predictions.

Each test image has a confidence (the softmax probability of the predicted class) and is right or wrong.
Images are grouped into equal-width confidence bins; a calibrated model's accuracy in each bin equals
its mean confidence there. The expected calibration error (ECE) is the image-weighted mean gap
|accuracy - confidence| over the bins; the reliability diagram draws accuracy against confidence per bin.
The negative log-likelihood is the mean test cross-entropy every run already records (test_loss).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

BINS = 15  # equal-width bins on [0, 1], the usual choice since Guo et al. (2017)


def reliability_bins(confidence, correct, bins: int = BINS) -> pd.DataFrame:
    """One row per non-empty bin: bin (0-based index), images, accuracy, confidence (mean).

    The binning is scikit-learn's calibration_curve (strategy "uniform"; a confidence on an inner edge
    belongs to the lower bin); it returns the non-empty bins without their sizes, so the sizes are counted
    here with the same edges."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    if confidence.ndim != 1 or confidence.shape != correct.shape or confidence.size == 0:
        raise ValueError(f"need two non-empty 1-D arrays of equal length, got shapes {confidence.shape} "
                         f"and {correct.shape}")
    accuracy, mean_confidence = calibration_curve(correct.astype(int), confidence, n_bins=bins,
                                                  strategy="uniform", pos_label=1)
    index = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence)
    images = np.bincount(index, minlength=bins)
    occupied = np.flatnonzero(images)
    return pd.DataFrame({"bin": occupied, "images": images[occupied], "accuracy": accuracy,
                         "confidence": mean_confidence})


def expected_calibration_error(confidence, correct, bins: int = BINS) -> float:
    """sum over bins of (images in bin / images) * |accuracy - mean confidence|, in [0, 1]."""
    table = reliability_bins(confidence, correct, bins)
    gaps = (table["accuracy"] - table["confidence"]).abs()
    return float((table["images"] * gaps).sum() / table["images"].sum())


def pooled_reliability(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Several runs' reliability_bins (e.g. one per seed) combined bin by bin, weighting each run's bin by
    its images: the reliability of all their test predictions together."""
    stacked = pd.concat(tables, ignore_index=True)
    weighted = stacked.assign(hits=stacked["accuracy"] * stacked["images"],
                              confidence_sum=stacked["confidence"] * stacked["images"])
    grouped = weighted.groupby("bin")[["images", "hits", "confidence_sum"]].sum()
    return pd.DataFrame({"bin": grouped.index, "images": grouped["images"].to_numpy(),
                         "accuracy": (grouped["hits"] / grouped["images"]).to_numpy(),
                         "confidence": (grouped["confidence_sum"] / grouped["images"]).to_numpy()})

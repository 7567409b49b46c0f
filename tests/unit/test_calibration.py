"""Calibration (expected calibration error, reliability bins) against hand-computed values and
scikit-learn's own bins."""
import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve

from cifar10_study.analysis.calibration import expected_calibration_error, pooled_reliability, reliability_bins


def test_ece_by_hand():
    confidence = [0.95, 0.95, 0.55, 0.55, 0.35]
    correct = [True, False, True, True, False]
    # 15 bins of width 1/15: 0.35 -> bin 5 (0.333..0.4], 0.55 -> bin 8 (0.533..0.6], 0.95 -> bin 14
    # gaps: |0 - 0.35| (1 image), |1 - 0.55| (2), |0.5 - 0.95| (2) -> (0.35 + 0.9 + 0.9) / 5 = 0.43
    table = reliability_bins(confidence, correct)
    assert table["bin"].tolist() == [5, 8, 14]
    assert table["images"].tolist() == [1, 2, 2]
    assert table["accuracy"].tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert table["confidence"].tolist() == pytest.approx([0.35, 0.55, 0.95])
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.43)


def test_a_calibrated_model_has_zero_ece_and_an_overconfident_one_its_gap():
    # 10 images at confidence 0.8, 8 right: calibrated. All 10 right at 0.8: underconfident by 0.2.
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    assert expected_calibration_error([0.8] * 10, [True] * 10) == pytest.approx(0.2)
    assert expected_calibration_error([1.0] * 4, [False] * 4) == pytest.approx(1.0)


def test_bins_are_scikit_learns():
    rng = np.random.default_rng(0)
    confidence = np.concatenate([rng.uniform(0.1, 1.0, 500), np.linspace(0, 1, 16)])  # edges included
    correct = rng.uniform(size=confidence.size) < confidence
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    table = reliability_bins(confidence, correct)
    assert table["accuracy"].to_numpy() == pytest.approx(accuracy)
    assert table["confidence"].to_numpy() == pytest.approx(mean_confidence)
    assert table["images"].sum() == confidence.size
    # each image's bin holds its confidence: (edge below, edge above], the first bin closed at 0
    index = np.searchsorted(np.linspace(0, 1, 16)[1:-1], confidence)
    assert np.bincount(index, minlength=15)[table["bin"]].tolist() == table["images"].tolist()
    assert reliability_bins([1 / 15], [True])["bin"].tolist() == [0]  # on an inner edge: the lower bin


def test_ece_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError, match=r"^need two non-empty 1-D arrays of equal length, got shapes \(2,\) and "
                                         r"\(3,\)$"):
        expected_calibration_error([0.5, 0.6], [True, False, True])
    with pytest.raises(ValueError, match=r"^need two non-empty 1-D arrays of equal length, got shapes \(0,\) and "
                                         r"\(0,\)$"):
        expected_calibration_error([], [])
    with pytest.raises(ValueError, match=r"got shapes \(1, 2\) and \(1, 2\)$"):
        expected_calibration_error([[0.5, 0.6]], [[True, False]])
    assert expected_calibration_error([0.7], [True]) == pytest.approx(0.3)  # one image is enough


def test_pooling_weights_each_runs_bins_by_their_images():
    a = reliability_bins([0.95, 0.95, 0.55], [True, False, True])  # bin 14: 1/2 right at 0.95; bin 8: 1/1
    b = reliability_bins([0.92, 0.55, 0.55, 0.55], [True, False, False, True])  # bin 13: 1/1; bin 8: 1/3
    pooled = pooled_reliability([a, b])
    assert pooled["bin"].tolist() == [8, 13, 14]
    assert pooled["images"].tolist() == [4, 1, 2]
    assert pooled["accuracy"].tolist() == pytest.approx([2 / 4, 1.0, 0.5])
    assert pooled["confidence"].tolist() == pytest.approx([0.55, 0.92, 0.95])
    # pooling equals binning all the images together
    together = reliability_bins([0.95, 0.95, 0.55, 0.92, 0.55, 0.55, 0.55], [1, 0, 1, 1, 0, 0, 1])
    pd.testing.assert_frame_equal(pooled.reset_index(drop=True), together, check_dtype=False)


def test_the_number_of_bins_is_the_one_asked():
    # Two images at 0.3 (right) and 0.4 (wrong). 2 bins: one bin, accuracy 0.5 against mean confidence 0.35 ->
    # ECE 0.15. 15 bins: a bin each, gaps 0.7 and 0.4 -> 0.55.
    assert expected_calibration_error([0.3, 0.4], [True, False], bins=2) == pytest.approx(0.15)
    assert expected_calibration_error([0.3, 0.4], [True, False]) == pytest.approx(0.55)

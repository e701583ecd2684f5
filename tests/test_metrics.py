import pytest

from xtransfer import metrics


def test_accuracy_hand_computed():
    assert metrics.accuracy(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == 50.0
    assert metrics.accuracy([1, 1, 1], [1, 1, 0]) == pytest.approx(200 / 3)


def test_accuracy_rejects_mismatched_lengths_and_empty_sets():
    with pytest.raises(ValueError, match="2 predictions for 3 labels"):
        metrics.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])

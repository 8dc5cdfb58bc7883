"""Data files are checked against the model's input before any work (numpy only, no TensorFlow)."""

import numpy as np
import pytest

from advisor.errors import DataError
from advisor.executor.data import Dataset, check_against_input, check_dataset, load_dataset, representative_sample


def test_a_dtype_the_model_cannot_take_is_bad_input():
    data = Dataset(np.zeros((4, 8), np.float32), None, "calib.npz")
    with pytest.raises(DataError, match=r"inputs.representative: calib.npz: x is float32, the model's input is int32 \(integers\)"):
        check_against_input(data, "inputs.representative", (8,), "int32")


def test_integer_images_are_cast_to_a_float_input():
    data = check_against_input(Dataset(np.zeros((4, 8, 8, 1), np.uint8), None, "img.npz"), "inputs.eval", (8, 8, 1), "float32")
    assert data.x.dtype == np.float32


def test_a_dynamic_dimension_accepts_any_size():
    data = Dataset(np.zeros((2, 5, 3), np.float32), None, "seq.npz")
    assert check_against_input(data, "inputs.eval", (None, 3), "float32").x.shape == (2, 5, 3)


def test_strings_are_not_data(tmp_path):
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="x must be numeric"):
        load_dataset(str(tmp_path / "words.npy"), role="inputs.representative", labelled=False)


def test_one_hot_labels_become_class_indices():
    y = np.eye(3)[[2, 0, 1]]
    assert check_dataset(Dataset(np.zeros((3, 2)), y, "d.npz"), "inputs.train").y.tolist() == [2, 0, 1]


def test_negative_or_fractional_labels_are_bad_input():
    with pytest.raises(DataError, match="negative class labels"):
        check_dataset(Dataset(np.zeros((2, 2)), np.array([0, -1]), "d.npz"), "inputs.train")
    with pytest.raises(DataError, match="integer class labels"):
        check_dataset(Dataset(np.zeros((2, 2)), np.array([0.5, 1.2]), "d.npz"), "inputs.train")


def test_an_npy_cannot_be_labelled_data(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match="labelled data needs an .npz"):
        load_dataset(str(tmp_path / "x.npy"), role="inputs.train", labelled=True)


def test_the_representative_sample_is_capped_at_500_and_says_so():
    x, note = representative_sample(Dataset(np.zeros((800, 2), np.float32), None, "c.npz"))
    assert len(x) == 500 and "first 500 of 800" in note
    x, note = representative_sample(Dataset(np.zeros((150, 2), np.float32), None, "c.npz"))
    assert len(x) == 150 and note is None

"""Data files are checked against the model's signature before any work (numpy only, no TensorFlow)."""

import numpy as np
import pytest

from advisor.errors import DataError
from advisor.pipeline.data import Dataset, bind, check_dataset, load_dataset, representative_sample
from advisor.models.signature import ModelSignature, TensorSpec


def signature(*inputs):
    return ModelSignature(format="keras2", inputs=tuple(TensorSpec(name=n, shape=s, dtype=d) for n, s, d in inputs),
                          outputs=(TensorSpec(name="out", shape=(10,), dtype="float32"),))


def test_a_dtype_the_model_cannot_take_is_bad_input():
    data = Dataset({"x": np.zeros((4, 8), np.float32)}, None, "calib.npz")
    with pytest.raises(DataError, match=r"inputs.representative: calib.npz: array 'x' is float32, the model's input 'ids' is int32 \(integers\)"):
        bind(data, "inputs.representative", signature(("ids", (8,), "int32")))


def test_integer_images_are_cast_to_a_float_input_and_x_names_the_single_input():
    data = bind(Dataset({"x": np.zeros((4, 8, 8, 1), np.uint8)}, None, "img.npz"), "inputs.eval",
                signature(("image", (8, 8, 1), "float32")))
    assert list(data.inputs) == ["image"] and data.inputs["image"].dtype == np.float32


def test_a_dynamic_dimension_accepts_any_size():
    data = Dataset({"seq": np.zeros((2, 5, 3), np.float32)}, None, "seq.npz")
    assert bind(data, "inputs.eval", signature(("seq", (None, 3), "float32"))).inputs["seq"].shape == (2, 5, 3)


def test_arrays_are_matched_to_inputs_by_name_and_mismatches_are_named():
    sig = signature(("image", (4,), "float32"), ("ids", (3,), "int32"))
    both = Dataset({"ids": np.zeros((2, 3), np.int64), "image": np.zeros((2, 4), np.float32)}, None, "d.npz")
    bound = bind(both, "inputs.eval", sig)
    assert list(bound.inputs) == ["image", "ids"] and bound.inputs["ids"].dtype == np.int32
    with pytest.raises(DataError, match=r"inputs.eval: d.npz: no array for input 'ids'; the model's inputs are 'image', 'ids', plus 'y' for labels"):
        bind(Dataset({"image": np.zeros((2, 4), np.float32)}, None, "d.npz"), "inputs.eval", sig)
    extra = Dataset({**both.inputs, "mask": np.zeros((2, 1))}, None, "d.npz")
    with pytest.raises(DataError, match=r"unexpected array 'mask'; the model's inputs are 'image', 'ids'"):
        bind(extra, "inputs.eval", sig)
    with pytest.raises(DataError, match=r"no array for input 'image', 'ids'; unexpected array 'x'"):
        bind(Dataset({"x": np.zeros((2, 4))}, None, "d.npz"), "inputs.eval", sig)


def test_inputs_of_different_lengths_are_bad_input():
    with pytest.raises(DataError, match=r"different numbers of samples \(a: 2, b: 3\)"):
        check_dataset(Dataset({"a": np.zeros((2, 1)), "b": np.zeros((3, 1))}, None, "d.npz"), "inputs.eval")


def test_strings_are_not_data(tmp_path):
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match="array 'x' must be numeric"):
        load_dataset(str(tmp_path / "words.npy"), role="inputs.representative", labelled=False)


def test_labels_must_match_the_inputs():
    with pytest.raises(DataError, match="the inputs have 2 samples but y has 3"):
        check_dataset(Dataset({"x": np.zeros((2, 2))}, np.array([0, 1, 1]), "d.npz"), "inputs.train")


def test_an_npy_cannot_be_labelled_data(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match="labelled data needs an .npz"):
        load_dataset(str(tmp_path / "x.npy"), role="inputs.train", labelled=True)


def test_the_representative_sample_is_capped_at_500_and_says_so():
    x, note = representative_sample(Dataset({"x": np.zeros((800, 2), np.float32)}, None, "c.npz"))
    assert len(x) == 500 and "first 500 of 800" in note
    x, note = representative_sample(Dataset({"x": np.zeros((150, 2), np.float32)}, None, "c.npz"))
    assert len(x) == 150 and note is None

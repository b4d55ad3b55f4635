import json
import subprocess

import numpy as np
import pytest
import torch

from neuron_repro.features import STATE_KINDS, extract_features
from neuron_repro.models.mlstm import MLSTM, ModelFormatError, git_blob_id, weight_norm
from tests.helpers import reference_states, write_openai_weights

TEXTS = ["This movie was great!", "", "  \n ", "terrible &amp; boring\nreally",
         "caf\u00e9 \U0001f3ac"]


@pytest.fixture
def released(tmp_path):
    arrays = write_openai_weights(tmp_path / "model", n_units=16, n_embed=8)
    return tmp_path / "model", arrays


def test_parity_with_numpy_reference(released):
    folder, arrays = released
    model = MLSTM.from_openai(folder)
    assert model.n_units == 16 and model.config.n_embed == 8
    feats = extract_features(model, TEXTS, STATE_KINDS, progress=False)
    for row, text in enumerate(TEXTS):
        ref = reference_states(arrays, text)
        for kind in STATE_KINDS:
            np.testing.assert_allclose(feats[kind][row], ref[kind], rtol=1e-5, atol=1e-5,
                                       err_msg=f"{kind} of {text!r}")


def test_language_model_forward_matches_extraction(released):
    folder, arrays = released
    model = MLSTM.from_openai(folder)
    text = "same length"
    ids = torch.tensor([list(b"\n " + text.encode() + b" ")])
    with torch.no_grad():
        logits, (c, h) = model(ids)
    ref = reference_states(arrays, text)
    np.testing.assert_allclose(c[0].numpy(), ref["final_c"], rtol=1e-5, atol=1e-5)
    assert logits.shape == (1, ids.shape[1], 256)
    expected = h[0].numpy() @ arrays[13] + arrays[14]
    np.testing.assert_allclose(logits[0, -1].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_weight_norm_is_per_column_and_keeps_zero_columns():
    w = torch.tensor([[3.0, 0.0], [4.0, 0.0]])
    out = weight_norm(w, torch.tensor([2.0, 5.0]))
    assert torch.allclose(out, torch.tensor([[1.2, 0.0], [1.6, 0.0]]))


def test_missing_file_is_named(released):
    folder, _ = released
    (folder / "7.npy").unlink()
    with pytest.raises(ModelFormatError, match=r"7\.npy"):
        MLSTM.from_openai(folder)


def test_inconsistent_shape_is_named(released):
    folder, _ = released
    np.save(folder / "12.npy", np.zeros(15, dtype=np.float32))
    with pytest.raises(ModelFormatError, match=r"12\.npy.*gmh.*\(15,\).*\(16,\)"):
        MLSTM.from_openai(folder)


def test_pickled_file_is_refused(released):
    folder, _ = released
    np.save(folder / "3.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFormatError, match=r"3\.npy"):
        MLSTM.from_openai(folder)


def test_checkpoint_round_trip_and_sha256(released, tmp_path):
    folder, _ = released
    model = MLSTM.from_openai(folder)
    sha = model.save(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["sha256"] == sha and config["n_units"] == 16
    loaded = MLSTM.load(tmp_path / "ckpt")
    assert loaded.sha256 == sha
    for name, param in model.state_dict().items():
        assert torch.equal(param, loaded.state_dict()[name])
    assert MLSTM.load(tmp_path / "ckpt" / "model.safetensors").sha256 == sha


def test_corrupt_checkpoint_is_refused(tmp_path):
    MLSTM.random(8).save(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="sha256"):
        MLSTM.load(tmp_path / "ckpt")


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(ModelFormatError, match="config.json|model.safetensors"):
        MLSTM.load(tmp_path / "nothing")


def test_git_blob_id_matches_git(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(10, dtype=np.float32))
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert git_blob_id(path) == expected

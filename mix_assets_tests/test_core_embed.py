"""The embedding runtimes: OpenVINO and ONNX Runtime give torch's vectors, and `auto` measures once,
records its choice and keeps it."""

import json

import numpy as np
import pytest

from mix_assets.core import embed, embed_runtime
from mix_assets_tests.conftest import corpus_sample


@pytest.fixture(scope="module")
def texts():
    return corpus_sample(10)["text"].to_list()  # ten documents of each true domain


@pytest.fixture(scope="module")
def fp32(texts):
    return embed.encode(texts, device="cpu", precision="fp32", backend="torch")


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_a_compiled_runtime_gives_the_torch_vectors(texts, fp32, backend):
    vectors = embed.encode(texts, device="cpu", backend=backend)
    assert vectors.shape == fp32.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # the bar is 0.999 for every document; bf16 OpenVINO measured 0.99995 on this corpus
    assert (vectors * fp32).sum(1).min() > 0.999
    # and each document's nearest neighbour among the others is the one torch finds, up to near ties
    sim, ref = vectors @ vectors.T, fp32 @ fp32.T
    np.fill_diagonal(sim, -1), np.fill_diagonal(ref, -1)
    same = sim.argmax(1) == ref.argmax(1)
    assert same.mean() > 0.9


def test_auto_measures_once_records_its_choice_and_keeps_it(texts, tmp_path):
    choices = tmp_path / "embed_backend.json"
    sample = (texts * 7)[:128]
    chosen = embed.resolve_backend("auto", "cpu", sample=sample, choices=choices)
    record = json.loads(choices.read_text())
    (key, entry), *rest = record.items()
    assert not rest and chosen == entry["backend"] and chosen in ("torch", "openvino")
    assert set(entry["docs_per_second"]) == {"torch", "openvino"}
    assert all(rate > 0 for rate in entry["docs_per_second"].values())
    assert chosen == embed_runtime.pick(entry["docs_per_second"])
    # a recorded choice is read back, not measured again: flip it and auto follows the record
    other = "torch" if chosen == "openvino" else "openvino"
    choices.write_text(json.dumps({key: {**entry, "backend": other}}))
    assert embed.resolve_backend("auto", "cpu", sample=sample, choices=choices) == other


def test_auto_stays_on_torch_without_enough_texts_to_measure(tmp_path):
    choices = tmp_path / "embed_backend.json"
    assert embed.resolve_backend("auto", "cpu", sample=["one short text"] * 10, choices=choices) == "torch"
    assert not choices.exists()


def test_auto_keeps_openvino_only_when_clearly_faster():
    assert embed_runtime.pick({"torch": 40.0, "openvino": 45.0}) == "torch"
    assert embed_runtime.pick({"torch": 40.0, "openvino": 40.0 * embed_runtime.AUTO_MARGIN}) == "openvino"
    assert embed_runtime.pick({"torch": 40.0, "openvino": 20.0}) == "torch"


def test_a_gpu_and_an_unknown_backend_are_refused():
    with pytest.raises(ValueError, match="runs on a CPU; device is cuda"):
        embed.load_model(embed.DEFAULT_MODEL, "cuda", 256, "openvino")
    with pytest.raises(ValueError, match="auto, torch, openvino, onnx, not 'tensorrt'"):
        embed.resolve_backend("tensorrt", "cpu")
    assert embed.resolve_backend("auto", "cuda") == "torch"  # the GPU path stays torch

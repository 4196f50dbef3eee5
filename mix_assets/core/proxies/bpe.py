"""The proxies' own byte-level BPE vocabulary, trained once on the corpus with `tokenizers`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def train_bpe(texts: Iterable[str], vocab_size: int = 4096):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode(tok, texts: list[str], batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(all token ids concatenated as uint16, offsets of length len(texts)+1). `batch` texts are
    encoded at a time: the tokenizer's Encoding objects take ~100 bytes a token, the result 2."""
    if tok.get_vocab_size() > 65_535:
        raise ValueError("proxy vocabulary must fit uint16")
    flats, lengths = [np.zeros(0, np.uint16)], [np.zeros(0, np.int64)]
    for lo in range(0, len(texts), batch):
        ids = [e.ids for e in tok.encode_batch(texts[lo : lo + batch])]
        lengths.append(np.array([len(i) for i in ids], dtype=np.int64))
        flats.append(
            np.fromiter((t for seq in ids for t in seq), dtype=np.uint16, count=int(lengths[-1].sum()))
        )
    every = np.concatenate(lengths)
    return np.concatenate(flats), np.concatenate([[0], np.cumsum(every)])


def split(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray | None = None) -> list[np.ndarray]:
    rows = np.arange(len(offsets) - 1) if rows is None else rows
    return [flat[offsets[r] : offsets[r + 1]] for r in rows]

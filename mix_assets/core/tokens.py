"""Token counts with a fast (Rust) tokenizer from the `tokenizers` library."""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=4)
def load_tokenizer(name: str):
    from tokenizers import Tokenizer

    from mix_assets.core.embed import resolve_model

    path = name if name.endswith(".json") else os.path.join(resolve_model(name), "tokenizer.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: no tokenizer.json; give a tokenizer.json path or a local model folder"
        )
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(texts: list[str], tokenizer: str) -> list[int]:
    if not texts:
        return []
    tok = load_tokenizer(tokenizer)
    return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]

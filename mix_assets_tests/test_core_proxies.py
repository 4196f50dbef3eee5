"""The n-gram proxy is a proper language model, samples follow the mixture, and the bound holds."""

import numpy as np
import pytest

from mix_assets.core.proxies import bpe, ngram, sampling
from mix_assets_tests.conftest import corpus_sample


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_distributions_sum_to_one(order):
    rng = np.random.default_rng(order)
    train = [rng.integers(0, 12, 80) for _ in range(10)]
    lm = ngram.KneserNey(12, order).fit(train)
    for ctx in ([1, 2, 3], [5, 5, 5], [11, 0, 7]):
        base, _ = lm.log_prob([np.array(ctx)])
        total = sum(np.exp(lm.log_prob([np.array(ctx + [w])])[0] - base) for w in range(12))
        assert total == pytest.approx(1.0, abs=1e-9)


def test_in_domain_training_gives_lower_cross_entropy():
    docs = corpus_sample(40)
    tok = bpe.train_bpe(docs["text"].to_list(), 1000)
    seqs = {
        d: bpe.split(*bpe.encode(tok, docs.filter(domain=d)["text"].to_list()))
        for d in ("code", "literature")
    }
    target = {"code": seqs["code"][:8]}
    ce_code = ngram.cross_entropy(seqs["code"][8:], target, tok.get_vocab_size())["code"]
    ce_lit = ngram.cross_entropy(seqs["literature"], target, tok.get_vocab_size())["code"]
    assert ce_code < ce_lit - 0.5


def test_sample_follows_weights_and_respects_max_epochs():
    domains = np.repeat([0, 1, 2], [50, 30, 20])
    lengths = np.full(100, 100)
    rows = sampling.draw(domains, lengths, np.array([0.5, 0.3, 0.2]), 10_000, seed=0)
    share = np.bincount(domains[rows], weights=lengths[rows], minlength=3) / lengths[rows].sum()
    np.testing.assert_allclose(share, [0.5, 0.3, 0.2], atol=0.02)
    rep = sampling.draw(domains, lengths, np.array([0.0, 0.0, 1.0]), 6_000, seed=0, max_epochs=3)
    assert np.bincount(rep).max() == 3  # domain 2 (2,000 tokens) read three times
    with pytest.raises(ValueError, match="repeated 3.5 times"):
        sampling.draw(domains, lengths, np.array([0.0, 0.0, 1.0]), 7_000, seed=0, max_epochs=3)
    np.testing.assert_array_equal(
        sampling.draw(domains, lengths, np.array([0.2, 0.3, 0.5]), 5000, 4),
        sampling.draw(domains, lengths, np.array([0.2, 0.3, 0.5]), 5000, 4),
    )


def test_gpt_proxy_learns_the_domain_it_is_trained_on():
    from mix_assets.core.proxies.gpt import GPTSettings, gpt_trial

    docs = corpus_sample(40)
    tok = bpe.train_bpe(docs["text"].to_list(), 512)
    seqs = {
        d: bpe.split(*bpe.encode(tok, docs.filter(domain=d)["text"].to_list()))
        for d in ("code", "literature")
    }
    target = {"code": seqs["code"][:6]}
    settings = GPTSettings(n_layer=1, n_embd=64, seq_len=64, batch_size=8, lr=3e-3)
    on_code = gpt_trial(seqs["code"][6:], target, tok.get_vocab_size(), 24_000, settings, seed=0)
    on_lit = gpt_trial(seqs["literature"], target, tok.get_vocab_size(), 24_000, settings, seed=0)
    assert on_code["train_steps"] == on_lit["train_steps"] > 10
    assert on_code["code"] < on_lit["code"] - 0.3
    assert on_code == gpt_trial(
        seqs["code"][6:], target, tok.get_vocab_size(), 24_000, settings, seed=0
    )  # seeded


def test_common_random_numbers_every_mixture_reads_a_domain_in_the_same_order():
    domains = np.repeat([0, 1, 2], [50, 30, 20])
    lengths = np.random.default_rng(0).integers(50, 150, 100)
    a = sampling.draw(domains, lengths, np.array([0.6, 0.3, 0.1]), 8_000, seed=7)
    b = sampling.draw(domains, lengths, np.array([0.2, 0.3, 0.5]), 8_000, seed=7)
    for d in range(3):
        da, db = a[domains[a] == d], b[domains[b] == d]
        short, long = sorted((da, db), key=len)
        np.testing.assert_array_equal(
            long[: len(short)], short
        )  # one order per domain; the mixture only says how far to read
    other = sampling.draw(domains, lengths, np.array([0.6, 0.3, 0.1]), 8_000, seed=8)
    assert not np.array_equal(a, other)  # another replicate seed, another sample


def test_a_proxy_drawing_from_b_over_t_of_each_domain_repeats_it_as_a_t_token_run_does():
    domains = np.repeat([0, 1], 400)
    lengths = np.random.default_rng(0).integers(20, 60, 800)  # about 16k tokens per domain
    w, proxy_tokens, run_tokens = np.array([0.8, 0.2]), 10_000, 40_000

    def passes(rows: np.ndarray, d: int) -> float:  # reads per distinct document of domain d
        rows = rows[domains[rows] == d]
        return len(rows) / len(np.unique(rows))

    run = sampling.draw(domains, lengths, w, run_tokens, seed=3)
    proxy = sampling.draw(domains, lengths, w, proxy_tokens, seed=3, pool_share=proxy_tokens / run_tokens)
    whole = sampling.draw(domains, lengths, w, proxy_tokens, seed=3)
    assert passes(run, 0) > 1.8  # the run reads domain 0 twice ...
    assert abs(passes(proxy, 0) - passes(run, 0)) < 0.25  # ... and so does the pooled proxy,
    assert passes(whole, 0) == 1.0  # while a proxy over the whole domain never repeats it
    assert passes(proxy, 1) == passes(run, 1) == 1.0  # the light domain is read once by both
    tokens = np.bincount(domains[proxy], weights=lengths[proxy], minlength=2)
    np.testing.assert_allclose(tokens / tokens.sum(), w, atol=0.02)  # the budget still follows w

    # common random numbers hold inside the pool: every mixture reads the same pooled documents
    other = sampling.draw(domains, lengths, np.array([0.3, 0.7]), proxy_tokens, seed=3, pool_share=0.25)
    for d in range(2):
        a, b = proxy[domains[proxy] == d], other[domains[other] == d]
        short, long = sorted((a, b), key=len)
        np.testing.assert_array_equal(long[: len(short)], short)
    with pytest.raises(ValueError, match="over max_epochs=1"):  # the bound counts passes over the pool
        sampling.draw(domains, lengths, w, proxy_tokens, seed=3, max_epochs=1, pool_share=0.25)


def reference_kneser_ney(train: list[np.ndarray], vocab: int, order: int, d: float):
    """Interpolated Kneser-Ney written out with dictionaries (Chen & Goodman): raw counts at the top
    order, continuation counts (distinct left extensions) below, uniform at order 0, each document
    padded with order-1 BOS ids."""
    from collections import Counter

    bos = vocab
    tables = {order: Counter()}
    for s in train:
        p = [bos] * (order - 1) + [int(t) for t in s]
        for i in range(order - 1, len(p)):
            tables[order][tuple(p[i - order + 1 : i + 1])] += 1
    for k in range(order - 1, 0, -1):
        tables[k] = Counter(g[1:] for g in tables[k + 1])
    totals = {k: Counter() for k in tables}
    followers = {k: Counter() for k in tables}
    for k, table in tables.items():
        for g, c in table.items():
            totals[k][g[:-1]] += c
            followers[k][g[:-1]] += 1

    def log_prob(seq: np.ndarray) -> float:
        p_seq = [bos] * (order - 1) + [int(t) for t in seq]
        out = 0.0
        for i in range(order - 1, len(p_seq)):
            hist, w, p = p_seq[i - order + 1 : i], p_seq[i], 1.0 / vocab
            for k in range(1, order + 1):
                h = tuple(hist[len(hist) - k + 1 :])
                if totals[k][h] > 0:
                    c = tables[k][h + (w,)]
                    p = max(c - d, 0) / totals[k][h] + d * followers[k][h] / totals[k][h] * p
            out += np.log(p)
        return out

    return log_prob


def test_kneser_ney_equals_a_reference_on_a_real_bpe_vocabulary():
    docs = corpus_sample(30, seed=7)["text"].to_list()
    tok = bpe.train_bpe(docs, 4096)
    seqs = bpe.split(*bpe.encode(tok, docs))
    train, held = seqs[:200], seqs[200:]
    vocab = tok.get_vocab_size()
    lm = ngram.KneserNey(vocab, 3, 0.75).fit(train)
    reference = reference_kneser_ney(train, vocab, 3, 0.75)
    got, _ = lm.document_log_probs(held)
    want = np.array([reference(s) for s in held])
    assert vocab > 3000 and sum(len(s) for s in train) > 50_000
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_token_file_reads_the_same_documents_as_the_array(tmp_path, version):
    from mix_assets.core.proxies.corpus import TokenFile

    tok = bpe.train_bpe(corpus_sample(3)["text"].to_list(), 512)
    flat, offsets = bpe.encode(tok, corpus_sample(3)["text"].to_list())
    path = tmp_path / "shard.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, flat, version=version)
    spans = [(int(offsets[r]), int(offsets[r + 1])) for r in (5, 0, len(offsets) - 2, 5)]
    got = TokenFile(path).read(spans)
    assert [g.dtype for g in got] == [flat.dtype] * 4 and got[0].size > 0
    assert all(np.array_equal(g, flat[lo:hi]) for g, (lo, hi) in zip(got, spans))

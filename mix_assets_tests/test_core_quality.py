"""Quality signals on real documents of the embedded corpus, and the learned-classifier hook."""

import joblib
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mix_assets.core.quality import QualityRules, load_classifier, score_documents, signals, signals_frame
from mix_assets_tests.conftest import corpus_sample


def test_prose_scores_above_boilerplate():
    prose = corpus_sample(20).filter(domain="literature")["text"].to_list()
    junk = ["#### ... ####\n" * 30, "1234 5678 9012\n" * 40, "- a\n- a\n- a\n" * 20]
    scores = score_documents(prose + junk)
    assert scores.height == len(prose) + 3
    assert scores["quality"][: len(prose)].mean() > 0.9
    assert scores["quality"][len(prose) :].max() < 0.7
    assert scores["quality"].is_between(0, 1).all()


def test_rules_are_configurable():
    doc = ["the cat sat with the dog and that was all"]
    assert score_documents(doc)["rule_score"][0] < 1.0  # fewer than 50 words
    assert score_documents(doc, QualityRules(min_words=5))["rule_score"][0] == 1.0


def test_sklearn_classifier_hook(tmp_path):
    docs = corpus_sample(40)
    y = (docs["domain"] == "literature").to_numpy().astype(int)
    model = make_pipeline(HashingVectorizer(n_features=2**14), LogisticRegression(max_iter=500)).fit(
        docs["text"].to_list(), y
    )
    joblib.dump(model, tmp_path / "clf.joblib")
    clf = load_classifier(tmp_path / "clf.joblib")
    out = score_documents(docs["text"].to_list(), classifier=clf, classifier_weight=1.0)
    assert np.corrcoef(out["quality"].to_numpy(), y)[0, 1] > 0.8  # the classifier now drives the score


def test_vectorised_signals_equal_the_per_document_rules_on_the_corpus():
    texts = corpus_sample(10_000)["text"].to_list()  # every document of the embedded corpus
    # and the edges: empty, blank, one word, bullets and ellipses, final sigma, Python-only
    # whitespace (\x1c), superscript digits, and a tie between two top bigrams of different lengths
    texts += [
        "",
        "   \n ",
        "a",
        "- x\n- y\n\n...\nz\u2026",
        "\u03a3\u0391\u03a3. x\x1cy",
        "\u00b2\u00b3 12",
        "ab c x y",
    ]
    reference = np.array([signals(t) for t in texts])
    np.testing.assert_array_equal(signals_frame(texts).to_numpy(), reference)
    assert len(texts) > 6000

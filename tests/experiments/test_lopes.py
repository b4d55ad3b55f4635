"""lopes2019's word-level LSTM and its explanations, against the equations, brute force and
planted answers."""

import numpy as np
import pytest
import torch

from neuron_repro import explain as X
from neuron_repro.data.base import Split
from neuron_repro.data.imdb import load_imdb, lopes_splits
from neuron_repro.models.wordlstm import (
    Vocabulary,
    WordLSTM,
    WordLSTMConfig,
    pad_batch,
    positive_probability,
    without_cudnn,
)
from neuron_repro.repro import FIXTURE_DATA
from neuron_repro.train.classifier import train_classifier

TINY = WordLSTMConfig(embed_dim=8, hidden=12, batch_size=4, lr=0.02, epochs=3)


def _model(n_tokens=30, seed=0, config=TINY):
    torch.manual_seed(seed)
    return WordLSTM(config, n_tokens).eval()


def _reviews(rng, n, n_tokens=30, lo=2, hi=15):
    return [rng.integers(1, n_tokens, size=rng.integers(lo, hi)) for _ in range(n)]


def _split(n=24, seed=0) -> Split:
    rng = np.random.default_rng(seed)
    words = "good bad film plot great awful scene cast 9/10 2/10".split()
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        body = list(rng.choice(words[2:4] + words[6:8], size=rng.integers(3, 9)))
        body.insert(rng.integers(len(body) + 1), words[label * 4 % 8] if label else "bad")
        texts.append(" ".join(body + ["9/10" if label else "2/10"]))
        labels.append(label)
    return Split(texts, labels)


def test_vocabulary_orders_by_count_and_keeps_pad_and_unk_first():
    vocab = Vocabulary.build(["b a a c", "a b d"], max_size=3)
    assert vocab.itos == ("<pad>", "<unk>", "a", "b", "c")  # c and d tie: by the token
    assert vocab.encode("a zz b").tolist() == [2, 1, 3]
    assert vocab.encode("").tolist() == [1]  # never an empty review
    assert Vocabulary.build(["x x y"], max_size=10, min_freq=2).itos == ("<pad>", "<unk>", "x")


def test_a_batch_gives_each_review_its_own_result():
    """Packing: padding never changes a review's output, whatever its neighbours."""
    model = _model()
    seqs = _reviews(np.random.default_rng(1), 9)
    tokens, lengths = pad_batch(seqs)
    with torch.no_grad():
        together = model(tokens, lengths)
        alone = torch.stack([model(*pad_batch([s]))[0] for s in seqs])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    # and the length-batched helper returns them in the input order
    probs = positive_probability(model, seqs, batch_tokens=20)
    np.testing.assert_allclose(probs, torch.sigmoid(alone).double().numpy(), rtol=1e-5)


def test_the_hand_written_step_is_nn_lstm():
    model = _model()
    seq = np.random.default_rng(2).integers(1, 30, size=11)
    with torch.no_grad():
        state = None
        for t in seq:
            state = model.step(model.embedding.weight[[t]], state)
        logit = model.readout(state[0])[0]
        ref = model(*pad_batch([seq]))[0]
    torch.testing.assert_close(logit, ref, rtol=1e-5, atol=1e-6)


def test_the_padded_forward_is_the_packed_lstm():
    """Reading h at each review's last token of the padded batch is what a packed sequence
    gives as its final state."""
    from torch.nn.utils.rnn import pack_padded_sequence

    model = _model()
    tokens, lengths = pad_batch(_reviews(np.random.default_rng(4), 6))
    with torch.no_grad():
        packed = pack_padded_sequence(model.embedding(tokens), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = model.lstm(packed)
        torch.testing.assert_close(model(tokens, lengths), model.readout(h[-1]), rtol=1e-5,
                                   atol=1e-6)


def _embedding_gradient(model, device):
    tokens, lengths = pad_batch([np.array([3, 4, 5, 6]), np.array([7, 8])], device=device)
    model.zero_grad()
    with without_cudnn():
        model(tokens, lengths).sum().backward()
    return model.embedding.weight.grad


def test_gradients_through_the_review_in_eval_mode_on_cpu():
    grad = _embedding_gradient(_model(), "cpu")
    assert torch.isfinite(grad).all() and grad[[3, 4, 5, 6, 7, 8]].abs().sum(1).min() > 0
    assert grad[9:].abs().sum() == 0  # tokens not in the reviews get none


@pytest.mark.gpu
def test_gradients_through_the_review_in_eval_mode_on_cuda():
    """cuDNN's RNN backward refuses eval mode; without_cudnn() is the path that works, and
    it gives the CPU's gradient."""
    cpu = _embedding_gradient(_model(), "cpu")
    cuda = _embedding_gradient(_model().cuda().eval(), "cuda")
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-4, atol=1e-6)


def test_bigram_states_are_two_steps_from_zero():
    model = _model()
    first, second = np.array([3, 7, 7, 1]), np.array([4, 4, 9, 2])
    with torch.no_grad():
        emb = model.embedding.weight
        ref = model.step(emb[second], model.step(emb[first]))[0].numpy()
    np.testing.assert_allclose(X.bigram_states(model, first, second, chunk=3), ref,
                               rtol=1e-5, atol=1e-6)


def test_the_bigram_table_holds_each_bigram_once_with_its_reviews_mean():
    model = _model(n_tokens=10)
    seqs = [np.array([1, 2, 3, 1, 2]), np.array([2, 3]), np.array([5])]
    table = X.bigram_table(model, seqs, [0.9, 0.1, 0.5], n_tokens=10)
    pairs = {table.pair(r): (table.mean_probability[r], table.reviews[r])
             for r in range(len(table.codes))}
    # (1,2) twice in review 0 counts once; (2,3) in both reviews; the one-token review none
    assert set(pairs) == {(1, 2), (2, 3), (3, 1)}
    assert pairs[(1, 2)] == (pytest.approx(0.9), 1)
    assert pairs[(2, 3)] == (pytest.approx(0.5), 2)


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_nearest_rows_is_brute_force(chunk):
    rng = np.random.default_rng(3)
    table = rng.normal(size=(300, 16)).astype(np.float32)
    table[50] = table[40]  # an exact tie, broken by the row
    queries = np.concatenate([rng.normal(size=(5, 16)), table[[40, 123]]]).astype(np.float32)
    rows, dist = X.nearest_rows(queries, table, k=3, chunk=chunk)
    brute = ((queries[:, None].astype(np.float64) - table[None].astype(np.float64)) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(300), brute.shape), brute), axis=1)[:, :3]
    np.testing.assert_array_equal(rows, order)
    np.testing.assert_allclose(dist, np.sqrt(np.take_along_axis(brute, order, 1)), rtol=1e-9)
    assert rows[5].tolist()[:2] == [40, 50] and dist[5, 0] == 0


def test_lime_ranks_the_words_of_a_linear_bag_of_words_model_by_their_weights():
    """The oracle: a model that adds a known weight per word present; LIME's surrogate must
    order the words as the weights do, and a batch of samples changes nothing."""
    true = {1: 0.30, 2: -0.25, 3: 0.12, 4: 0.05, 5: -0.08, 6: 0.20, 7: 0.0, 8: -0.15}
    review = np.array([3, 1, 7, 2, 8, 4, 6, 5])

    def predict(batch):
        return np.array([0.4 + sum(true[t] for t in set(s.tolist())) for s in batch])

    e = X.lime_text(predict, review, n_samples=1000, seed=0, batch=64)
    words = review[e.first]
    assert words.tolist() == review.tolist()  # features in order of first occurrence
    assert words[e.ranked()].tolist() == sorted(true, key=lambda w: -true[w])
    one = X.lime_text(predict, review, n_samples=1000, seed=0, batch=1)
    np.testing.assert_allclose(one.weights, e.weights, rtol=1e-6, atol=1e-7)


def test_lime_counts_each_distinct_word_once_and_keeps_unknown_words_apart():
    tokens = np.array([1, 5, 1, 5])  # two unknown words (both <unk>) and "good" twice
    words = np.array(["zork", "good", "quux", "good"])
    e = X.lime_text(lambda b: np.array([0.9 if (r == 5).any() else 0.1 for r in b]), tokens,
                    words, n_samples=300, batch=100)
    assert e.first.tolist() == [0, 1, 2]  # zork, good, quux: three features
    assert e.ranked()[0] == 1 and e.weights[1] > 0.5  # "good" carries the output
    with pytest.raises(ValueError, match="two distinct"):
        X.lime_text(lambda b: np.full(len(b), 0.5), np.array([4, 4]))


def test_rating_tokens_and_the_lexicon():
    ratings = ["10/10", "/>9/10", "7/10<br", "(8.5/10)", "1/10."]
    others = ["100/10", "3/5", "10/100", "2010", "great", "/10"]
    assert all(map(X.is_rating, ratings)) and not any(map(X.is_rating, others))
    assert X.normalise("/>Great!") == "great" and X.normalise("<br") == ""
    assert X.normalise('"Wonderful"') == "wonderful"
    lexicon = X.positive_lexicon()
    assert {"great", "wonderful", "good"} <= lexicon
    assert not {"awful", "bad", "movie"} & lexicon


def _planted_model(n_tokens=12, hot=5):
    """A word LSTM whose output rises with x . u and whose token ``hot`` is the only one
    along u: activation maximisation must end near it, and corpus search must rank it
    first."""
    config = WordLSTMConfig(embed_dim=4, hidden=3, epochs=1)
    torch.manual_seed(0)
    model = WordLSTM(config, n_tokens).eval()
    u = torch.tensor([1.0, 0.0, 0.0, 0.0])
    with torch.no_grad():
        emb = torch.randn(n_tokens, 4) * 0.5
        emb[:, 0] = -emb[:, 0].abs()  # every other token points away from u
        emb[hot] = torch.tensor([1.5, 0.1, -0.1, 0.0])
        model.embedding.weight.copy_(emb)
        lstm = model.lstm
        for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0):
            p.zero_()
        h = 3
        lstm.bias_ih_l0[:h] = 4.0  # input gate open
        lstm.bias_ih_l0[3 * h:] = 4.0  # output gate open
        lstm.weight_ih_l0[2 * h] = u  # candidate of unit 0 follows x . u
        model.fc.weight.zero_()
        model.fc.weight[0, 0] = 3.0
        model.fc.bias.zero_()
    return model


def test_activation_maximisation_and_corpus_search_find_the_planted_token():
    model = _planted_model()
    optimum = X.maximise_activation(model, steps=300, lr=0.05)
    nearest, similarity = X.nearest_by_cosine(optimum.x, model.embedding.weight.detach().numpy(),
                                              k=3)
    assert nearest[0] == 5 and similarity[0] > 0.99
    radius = float(model.embedding.weight.detach()[1:].norm(dim=1).max())
    assert np.linalg.norm(optimum.x) <= radius * (1 + 1e-6)  # stays in the embeddings' ball
    scores = X.score_vocabulary(model)
    assert np.isnan(scores[:2]).all() and int(np.nanargmax(scores)) == 5
    assert optimum.probability >= np.nanmax(scores) - 1e-6  # no token beats the optimum


def test_lopes_split_is_seeded_and_disjoint():
    dataset = load_imdb(FIXTURE_DATA / "lopes")
    a, b = lopes_splits(dataset), lopes_splits(dataset)
    assert a["train"].texts == b["train"].texts
    assert len(a["train"].texts) == 28 and len(a["val"].texts) == 12
    assert not set(a["train"].texts) & set(a["val"].texts)
    assert lopes_splits(dataset, seed=1)["train"].texts != a["train"].texts


def test_training_stopped_after_an_epoch_resumes_to_the_same_weights(tmp_path):
    train, val = _split(24, 0), _split(12, 1)
    straight = train_classifier(train, val, TINY, seed=0, progress=False)
    stopped = train_classifier(train, val, TINY, seed=0, progress=False, cache_dir=tmp_path,
                               minutes=0)
    assert stopped.epochs == 1 and not stopped.complete
    resumed = train_classifier(train, val, TINY, seed=0, progress=False, cache_dir=tmp_path)
    assert resumed.resumed_from == 1 and resumed.complete
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.val_accuracy_per_epoch == straight.val_accuracy_per_epoch
    again = train_classifier(train, val, TINY, seed=0, progress=False, cache_dir=tmp_path)
    assert again.from_cache and again.best_epoch == straight.best_epoch
    for a, b in zip(again.model.state_dict().values(), straight.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_an_unreadable_classifier_cache_is_trained_again(tmp_path):
    train, val = _split(16, 0), _split(8, 1)
    first = train_classifier(train, val, TINY, seed=0, progress=False, cache_dir=tmp_path)
    (entry,) = list(tmp_path.iterdir())
    (entry / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.warns(UserWarning, match="model.safetensors"):
        again = train_classifier(train, val, TINY, seed=0, progress=False, cache_dir=tmp_path)
    assert not again.from_cache
    for a, b in zip(again.model.state_dict().values(), first.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # another seed, configuration or data is another entry
    train_classifier(train, val, TINY, seed=1, progress=False, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2


def test_on_the_fixture_the_planted_positive_ratings_come_first(tmp_path):
    """The fixture reviews end with their rating out of ten: the token nearest the optimum
    of activation maximisation and corpus search's first token are positive ratings, and
    every lopes2019 claim is measured there."""
    from neuron_repro.claims import REGISTRY
    from neuron_repro.experiments.lopes import _tokens
    from neuron_repro.repro import make_context
    from neuron_repro.runner import evaluate

    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    tokens = _tokens(ctx, 0)  # the first training

    def positive_rating(token):
        return X.is_rating(token) and int(token.split("/")[-2].lstrip("/>")) >= 7

    assert positive_rating(tokens["ascent"]["tokens"][0]), tokens["ascent"]
    assert positive_rating(tokens["search"]["tokens"][0]), tokens["search"]
    assert tokens["ascent"]["probability"] > 0.5
    for claim in (c for c in REGISTRY if c.source == "lopes2019"):
        result = evaluate(claim, ctx)
        assert result.measured is not None, result.reason
    assert (tmp_path / "word_lstm.md").is_file()
    assert {"lime_review_1.png", "dataset_examples.png", "token_search.png"} <= {
        p.name for p in tmp_path.iterdir()}


def test_every_claim_is_judged_over_the_trainings_and_one_is_short_of_the_protocol(tmp_path):
    """With the fixtures' 5 trainings each claim's value is the mean over them, with every
    training's value and its interval (a prediction interval for the accuracy, whose published
    number is one run); one training falls short of the protocol."""
    from dataclasses import replace

    from neuron_repro.claims import get_claim
    from neuron_repro.experiments import EXPERIMENTS
    from neuron_repro.repro import make_context
    from neuron_repro.runner import evaluate

    ctx = make_context(profile="fixtures", out_dir=tmp_path, progress=False)
    claim = get_claim("lopes2019.activation_maximization_ratings")
    measured = EXPERIMENTS[claim.experiment](ctx, claim)
    each = measured.details["rating_tokens_in_top10"]["per_seed"]
    assert list(each) == ["0", "1", "2", "3", "4"]
    assert measured.value == pytest.approx(np.mean(list(each.values())))
    assert measured.interval.kind == "seeds" and measured.budget["seeds"] == 5
    accuracy = get_claim("lopes2019.lstm_accuracy")
    m = EXPERIMENTS[accuracy.experiment](ctx, accuracy)
    assert m.interval.kind == "prediction" and m.interval.n == 5
    ctx.settings["lopes"] = replace(ctx.settings["lopes"], seeds=1)
    ctx.memo.clear()
    one = evaluate(claim, ctx)
    assert one.verdict == "NOT RUN" and "1 of the protocol's 5 seeds" in one.reason
    assert one.interval is None

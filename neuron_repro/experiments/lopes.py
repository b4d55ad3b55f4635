"""lopes2019: a word-level LSTM sentiment classifier on IMDB, trained by the harness, and its
explanations (LIME, activation maximisation, corpus search, dataset examples).

The classifier is trained ``LopesSettings.seeds`` times (5: the claims' protocol) through the
classifier cache, and every claim is judged over all the trainings: the mean of its statistic
with a t interval over them (the accuracy by a prediction interval, since the published
number is one training). The trainings' predictions and LIME's explanations are shared by the
five claims.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neuron_repro import explain as X
from neuron_repro.data import DatasetError
from neuron_repro.data.imdb import LOPES_SPLIT_SEED, load_imdb, lopes_splits
from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.models.wordlstm import WordLSTMConfig, positive_probability, tokenize
from neuron_repro.paths import FIXTURE_DATA
from neuron_repro.stats import prediction_interval, seed_interval
from neuron_repro.train.classifier import train_classifier
from neuron_repro.verdicts import Claim, FigureSpec, Interval, Measurement

LIME_TOP = 5  # words judged per review
NEAREST = 10  # tokens nearest to the optimum / top of the corpus search
BIGRAM_K = 3  # nearest training bigrams per query
# Tokens whose training reviews the token-search figure shows (those in the vocabulary).
SEARCH_TOKENS = ("10/10", "8/10", "4/10", "1/10", "great", "worst")
CARD = "word_lstm.md"
# The source's train and validation accuracy, shown beside ours (the claim judges the test's).
PUBLISHED_SPLITS = {"train": 93.21, "val": 84.98}


@dataclass
class LopesSettings:
    """How the lopes2019 claims train and explain their word-level LSTM. ``config`` is the
    model and its training (:class:`WordLSTMConfig`: the tutorials' sizes, 5 epochs, the
    epoch of best validation accuracy kept); ``lime_samples`` is LIME's default; the claims
    are judged over ``lime_reviews`` correctly classified positive test reviews and
    ``queries`` reviews of each predicted polarity, drawn with ``sample_seed``."""

    config: WordLSTMConfig = field(default_factory=WordLSTMConfig)
    seed: int = 0  # the first training's seed; the others follow it
    seeds: int = 5  # trainings: every claim is judged over all of them
    lime_samples: int = 5000
    lime_reviews: int = 50
    queries: int = 50
    sample_seed: int = 0
    ascent_steps: int = 500
    ascent_lr: float = 0.05
    data_root: Path | None = None  # where IMDB is read (None: the run's data root)

    def __post_init__(self):
        for name in ("seeds", "lime_samples", "lime_reviews", "queries", "ascent_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"lopes.{name} must be at least 1, not {getattr(self, name)}")
        if self.config.epochs < 1:
            raise ValueError(f"lopes.config.epochs must be at least 1, not {self.config.epochs}")


def _settings(ctx) -> LopesSettings:
    return ctx.settings["lopes"]


def _seeds(ctx) -> list[int]:
    s = _settings(ctx)
    return list(range(s.seed, s.seed + s.seeds))


def _study(ctx, seed: int | None = None) -> dict:
    """The classifier trained with ``seed`` (the first seed by default), its predictions on
    every split and their accuracy."""
    seed = _seeds(ctx)[0] if seed is None else seed
    return ctx.cached(("lopes", "study", seed), lambda: _train_and_predict(ctx, seed))


def _train_and_predict(ctx, seed: int) -> dict:
    settings = _settings(ctx)
    if settings.data_root is None:
        dataset = ctx.dataset("imdb")
    else:
        dataset = load_imdb(settings.data_root)
        ctx.data_files.update(dataset.files)
    splits = lopes_splits(dataset)
    trained = train_classifier(splits["train"], splits["val"], settings.config,
                               seed=seed, device=ctx.device, progress=ctx.progress,
                               desc=f"word LSTM seed {seed}",
                               cache_dir=ctx.cache_folder("word-lstm"))
    vocab, model = trained.vocab, trained.model
    seqs, probs, labels, accuracy = {}, {}, {}, {}
    for name, split in splits.items():
        seqs[name] = [vocab.encode(t) for t in split.texts]
        began = time.perf_counter()
        probs[name] = positive_probability(model, seqs[name], device=ctx.device)
        labels[name] = np.asarray(split.labels, dtype=np.int64)
        accuracy[name] = float(np.mean((probs[name] > 0.5) == (labels[name] == 1)) * 100)
        if name == "test":
            tokens = sum(len(s) for s in seqs[name])
            inference = {"test_tokens": tokens,
                         "test_tokens_per_second": round(tokens / (time.perf_counter() - began))}
    study = {"trained": trained, "vocab": vocab, "model": model, "seqs": seqs, "probs": probs,
             "texts": {name: split.texts for name, split in splits.items()},
             "labels": labels, "accuracy": accuracy, "inference": inference,
             "sizes": {k: len(v) for k, v in seqs.items()}, "files": dict(dataset.files)}
    return study


def _training(study) -> dict:
    trained = study["trained"]
    return {"accuracy": {k: round(v, 2) for k, v in study["accuracy"].items()},
            "split": {**study["sizes"], "seed": LOPES_SPLIT_SEED},
            "training": trained.summary(), **study["inference"]}


def _budget(studies: list[dict], **more) -> dict:
    """What the run spent: the fewest epochs any training had, and how many trainings."""
    return {"epochs": min(s["trained"].epochs for s in studies), "seeds": len(studies), **more}


def _over_seeds(values: list[float], what: str) -> Interval | None:
    """The t interval of a statistic's mean over the trainings (none for one training)."""
    return seed_interval(values, note=f"t interval of the mean of {what} over "
                         f"{len(values)} trainings") if len(values) > 1 else None


def _per_seed(values: list, seeds: list[int]) -> dict:
    return {"per_seed": dict(zip(map(str, seeds), values, strict=True)),
            "mean_over_seeds": float(np.mean(values))}


def accuracy_experiment(ctx, claim: Claim) -> Measurement:
    """The mean test accuracy over the trainings, judged by where one more training would
    fall (a prediction interval: the published number is one training run)."""
    seeds = _seeds(ctx)
    studies = [_study(ctx, seed) for seed in seeds]
    tests = [s["accuracy"]["test"] for s in studies]
    interval = prediction_interval(tests) if len(tests) > 1 else None
    study = studies[0]
    trained = study["trained"]
    figures = [FigureSpec("word_lstm_training.png", "training_curve", {
        "train_running": trained.train_running_accuracy_per_epoch,
        "val": trained.val_accuracy_per_epoch, "best_epoch": trained.best_epoch,
        "test": study["accuracy"]["test"],
        "title": f"word LSTM on IMDB ({len(study['vocab'])} tokens)"},
        "word LSTM on IMDB: accuracy after each epoch"), _card(ctx, study)]
    published = {**PUBLISHED_SPLITS, "test": claim.published}
    table = [{"split": name, "reviews": study["sizes"][name],
              "accuracy": round(study["accuracy"][name], 2), "published": published[name]}
             for name in ("train", "val", "test")]
    details = {**_training(study), "model_card": CARD, "table": table,
               "test_accuracy": _per_seed([round(v, 2) for v in tests], seeds)}
    return Measurement(round(float(np.mean(tests)), 2), details, figures,
                       budget=_budget(studies), interval=interval)


# ----------------------------------------------------------------------------- LIME
def _draw(rows: np.ndarray, n: int, rng) -> np.ndarray:
    if len(rows) < n:
        raise DatasetError(f"IMDB test: only {len(rows)} reviews qualify for the sample, "
                           f"{n} are wanted")
    return np.sort(rng.choice(rows, n, replace=False))


def _explanations(ctx, seed: int) -> dict:
    """LIME's explanation of the sampled correctly classified test reviews: positive ones
    (``lime_reviews``, the first ``queries`` of them also queries) and negative ones."""
    return ctx.cached(("lopes", "lime", seed), lambda: _explain(ctx, seed))


def _explain(ctx, seed: int) -> dict:
    study, s = _study(ctx, seed), _settings(ctx)
    probs, labels, seqs = study["probs"]["test"], study["labels"]["test"], study["seqs"]["test"]
    distinct = np.array([len(np.unique(q)) >= 2 for q in seqs])
    rng = np.random.default_rng(s.sample_seed)
    positive = _draw(np.flatnonzero((labels == 1) & (probs > 0.5) & distinct),
                     max(s.lime_reviews, s.queries), rng)
    negative = _draw(np.flatnonzero((labels == 0) & (probs < 0.5) & distinct), s.queries, rng)
    model, device = study["model"], ctx.device

    def predict(batch):
        return positive_probability(model, batch, device=device)

    out, began, samples = {}, time.perf_counter(), 0
    rows = list(positive) + list(negative)
    for row in tqdm(rows, desc="LIME", unit="review", disable=not ctx.progress, leave=False):
        words = np.array(tokenize(study["texts"]["test"][row]))
        out[int(row)] = X.lime_text(predict, seqs[row], words, n_samples=s.lime_samples,
                                    seed=s.sample_seed + int(row))
        samples += s.lime_samples
    seconds = time.perf_counter() - began
    return {"positive": [int(r) for r in positive], "negative": [int(r) for r in negative],
            "explained": out, "samples_per_second": round(samples / seconds, 1)}


def top_positive_words(explanation: X.LimeExplanation, words, k: int = LIME_TOP) -> list[str]:
    """The (at most k) words of a review (``words``, its tokens) with the largest positive
    LIME weights, largest first."""
    ranked = [i for i in explanation.ranked() if explanation.weights[i] > 0][:k]
    return [words[explanation.first[i]] for i in ranked]


def lexicon_positive(words, lexicon) -> int:
    return sum(X.normalise(w) in lexicon for w in words)


def lime_experiment(ctx, claim: Claim, seed: int) -> Measurement:
    study, s = _study(ctx, seed), _settings(ctx)
    lime = _explanations(ctx, seed)
    lexicon = X.positive_lexicon()
    texts = study["texts"]["test"]
    judged = lime["positive"][:s.lime_reviews]
    per_review = []
    for row in judged:
        words = top_positive_words(lime["explained"][row], tokenize(texts[row]))
        per_review.append({"test_review": row, "top_words": words,
                           "lexicon_positive": lexicon_positive(words, lexicon)})
    counts = np.array([r["lexicon_positive"] for r in per_review])
    shown = [lime["positive"][0], lime["negative"][0]]
    figures = []
    for n, row in enumerate(shown, 1):
        e, words = lime["explained"][row], tokenize(texts[row])
        side = "positive" if study["labels"]["test"][row] else "negative"
        figures.append(FigureSpec(f"lime_review_{n}.png", "lime_explanation", {
            "words": [words[i] for i in e.first], "weights": e.weights, "review": words,
            "title": f"LIME, test review {row} (P(positive) "
                     f"{study['probs']['test'][row]:.3f}, label {side})"},
            f"LIME on a correctly classified {side} test review (bars: the largest weights; "
            "text: each word coloured by its weight, red towards positive)"))
    details = {"statistic": f"median over {len(judged)} correctly classified positive test "
                            f"reviews of the VADER-positive words among LIME's {LIME_TOP} "
                            "most positive",
               "mean": round(float(counts.mean()), 2),
               "share_with_at_least_3": round(float((counts >= 3).mean()), 3),
               "histogram": np.bincount(counts, minlength=LIME_TOP + 1).tolist(),
               "reviews": per_review, "lime_samples": s.lime_samples,
               "table": [{"test review": r["test_review"],
                          f"LIME's {LIME_TOP} most positive words": " ".join(r["top_words"]),
                          "VADER-positive": r["lexicon_positive"]} for r in per_review[:10]],
               "lime_samples_per_second": lime["samples_per_second"],
               "sample_seed": s.sample_seed, **_training(study)}
    return Measurement(float(np.median(counts)), details, figures,
                       budget=_budget([study], lime_samples=s.lime_samples,
                                      reviews=len(judged)))


# ----------------------------------------------------------------------------- tokens
def _tokens(ctx, seed: int) -> dict:
    """Activation maximisation and corpus search, timed the same way in the same run."""
    return ctx.cached(("lopes", "tokens", seed), lambda: _search_tokens(ctx, seed))


def _search_tokens(ctx, seed: int) -> dict:
    study, s = _study(ctx, seed), _settings(ctx)
    model, itos = study["model"], study["vocab"].itos
    emb = model.embedding.weight.detach().cpu().double().numpy()
    began = time.perf_counter()
    optimum = X.maximise_activation(model, steps=s.ascent_steps, lr=s.ascent_lr)
    nearest, similarity = X.nearest_by_cosine(optimum.x, emb, NEAREST)
    ascent_seconds = time.perf_counter() - began
    began = time.perf_counter()
    scores = X.score_vocabulary(model)
    top = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:NEAREST]
    search_seconds = time.perf_counter() - began
    snapped = int(nearest[0])
    near_snapped, _ = X.nearest_by_cosine(emb[snapped], emb, NEAREST + 1)
    near_snapped = [int(i) for i in near_snapped if i != snapped][:NEAREST]
    ascent = [itos[i] for i in nearest]
    search = [itos[i] for i in top]
    out = {
        "ascent": {"probability": round(optimum.probability, 6), "tokens": ascent,
                   "cosine": [round(float(v), 4) for v in similarity],
                   "ratings": sum(map(X.is_rating, ascent)), "steps": optimum.steps,
                   "lr": s.ascent_lr, "seconds": round(ascent_seconds, 4)},
        "snapped": {"token": itos[snapped], "probability": round(float(scores[snapped]), 6),
                    "nearest_tokens": [itos[i] for i in near_snapped],
                    "ratings": sum(X.is_rating(itos[i]) for i in near_snapped)},
        "search": {"tokens": search, "probability": [round(float(scores[i]), 6) for i in top],
                   "ratings": sum(map(X.is_rating, search)), "seconds": round(search_seconds, 4),
                   "vocabulary": len(itos) - 2},
        "overlap": len(set(ascent) & set(search)),
        "search_over_ascent_time": round(search_seconds / ascent_seconds, 4),
        "rating_pattern": X.RATING.pattern,
    }
    return out


def activation_maximization_experiment(ctx, claim: Claim, seed: int) -> Measurement:
    study, tokens = _study(ctx, seed), _tokens(ctx, seed)
    a = tokens["ascent"]
    table = [{"rank": n, "token": t, "cosine": c, "rating": "yes" if X.is_rating(t) else ""}
             for n, (t, c) in enumerate(zip(a["tokens"], a["cosine"], strict=True), 1)]
    details = {**tokens, **_training(study), "table": table}
    note = (f"the optimum's P(positive) {a['probability']:.4f}; snapped to its nearest token "
            f"{tokens['snapped']['token']!r}: {tokens['snapped']['probability']:.4f}")
    return Measurement(a["ratings"], details, budget=_budget([study]), note=note)


def search_experiment(ctx, claim: Claim, seed: int) -> Measurement:
    study, tokens = _study(ctx, seed), _tokens(ctx, seed)
    search = tokens["search"]
    table = [{"rank": n, "token": t, "P(positive)": p, "rating": "yes" if X.is_rating(t) else "",
              "also in the ascent's 10": "yes" if t in tokens["ascent"]["tokens"] else ""}
             for n, (t, p) in enumerate(zip(search["tokens"], search["probability"],
                                            strict=True), 1)]
    details = {**tokens, **_training(study), "table": table}
    note = (f"{tokens['overlap']} of the 10 shared with activation maximisation; both "
            "times are in the details (reported, not judged)")
    return Measurement(search["ratings"], details, budget=_budget([study]), note=note)


# ----------------------------------------------------------------------------- bigrams
def query_bigram(seq: np.ndarray, t: int) -> tuple[int, int]:
    """The bigram of token ids that ends at position t (the one that starts there when t is
    the review's first token)."""
    return (int(seq[t - 1]), int(seq[t])) if t > 0 else (int(seq[0]), int(seq[1]))


def same_side(query_positive: np.ndarray, neighbour_probability: np.ndarray) -> np.ndarray:
    """Per query: whether most of its neighbours' reviews are predicted on its side."""
    agree = (neighbour_probability > 0.5) == query_positive[:, None]
    return agree.sum(1) * 2 > agree.shape[1]


def dataset_examples_experiment(ctx, claim: Claim, seed: int) -> Measurement:
    study, s = _study(ctx, seed), _settings(ctx)
    lime = _explanations(ctx, seed)
    model, itos = study["model"], study["vocab"].itos
    began = time.perf_counter()
    table = X.bigram_table(model, study["seqs"]["train"], study["probs"]["train"], len(itos))
    build_seconds = time.perf_counter() - began
    test_seqs, test_probs = study["seqs"]["test"], study["probs"]["test"]
    queries = lime["positive"][:s.queries] + lime["negative"]
    pairs = []
    for row in queries:
        e = lime["explained"][row]
        positive = test_probs[row] > 0.5
        t = int(e.first[np.argmax(e.weights) if positive else np.argmin(e.weights)])
        pairs.append(query_bigram(test_seqs[row], t))
    first, second = np.array(pairs).T
    states = X.bigram_states(model, first, second)
    began = time.perf_counter()
    rows, dist = X.nearest_rows(states, table.states, BIGRAM_K)
    search_seconds = time.perf_counter() - began
    query_positive = test_probs[queries] > 0.5
    agree = same_side(query_positive, table.mean_probability[rows])
    rng = np.random.default_rng(s.sample_seed)
    random_rows = rng.integers(0, len(table.codes), size=rows.shape)
    control = same_side(query_positive, table.mean_probability[random_rows])
    all_three = ((table.mean_probability[rows] > 0.5) == query_positive[:, None]).all(1)

    def text(pair):
        return " ".join(itos[i] for i in pair)

    examples = [{"test_review": int(q), "query": text(p),
                 "predicted": "positive" if pos else "negative",
                 "neighbours": [{"bigram": text(table.pair(r)), "distance": round(float(d), 4),
                                 "mean_review_probability":
                                     round(float(table.mean_probability[r]), 4),
                                 "reviews": int(table.reviews[r])}
                                for r, d in zip(rr, dd, strict=True)]}
                for q, p, pos, rr, dd in zip(queries, pairs, query_positive, rows, dist,
                                             strict=True)]
    figures = [FigureSpec("dataset_examples.png", "bigram_agreement", {
        "query_positive": query_positive,
        "neighbour_probability": table.mean_probability[rows], "share": float(agree.mean()),
        "control": float(control.mean()), "title": f"nearest {BIGRAM_K} training bigrams "
        f"of {len(queries)} queries ({len(table.codes):,} bigrams)"},
        "dataset examples: the reviews of each query's nearest training bigrams, by the "
        "query's predicted side"), *_token_search(study)]
    details = {"statistic": f"share of {len(queries)} queries (LIME's most important word of "
                           f"{s.queries} positive and {len(lime['negative'])} negative "
                           "correctly classified test reviews, with the word before it) whose "
                           f"nearest {BIGRAM_K} training bigrams are mostly from reviews "
                           "predicted on the query's side (chance: 0.5)",
               "random_bigram_share": round(float(control.mean()), 3),
               "all_three_share": round(float(all_three.mean()), 3),
               "training_bigrams": len(table.codes),
               "table_seconds": round(build_seconds, 2),
               "search_seconds": round(search_seconds, 3),
               "examples": examples, **_training(study),
               "table": [{"test review": e["test_review"], "query": e["query"],
                          "predicted": e["predicted"],
                          "nearest training bigrams (mean P(positive) of their reviews)":
                              "; ".join(f"{n['bigram']} ({n['mean_review_probability']:.2f})"
                                        for n in e["neighbours"])}
                         for e in examples[:4] + examples[-4:]]}
    note = (f"random training bigrams: {control.mean():.2f}; exact search over "
            f"{len(table.codes):,} training bigrams")
    return Measurement(round(float(agree.mean()), 4), details, figures,
                       budget=_budget([study], queries=len(queries)), note=note)


def _token_search(study) -> list[FigureSpec]:
    """The predictions of the training reviews that contain each of SEARCH_TOKENS."""
    stoi = study["vocab"].stoi
    found = {}
    for token in SEARCH_TOKENS:
        if token in stoi:
            hits = [i for i, s in enumerate(study["seqs"]["train"]) if (s == stoi[token]).any()]
            if hits:
                found[token] = study["probs"]["train"][hits]
    if not found:
        return []
    return [FigureSpec("token_search.png", "token_search", {"found": found},
                       "token search: P(positive) of the training reviews containing each "
                       "token")]


# ----------------------------------------------------------------------------- card
def _card(ctx, study) -> FigureSpec:
    trained = study["trained"]
    c = trained.config
    acc = study["accuracy"]
    lines = [
        "# Word-level LSTM on IMDB (lopes2019)", "",
        "Trained by the harness for the lopes2019 claims (`neuron_repro/models/wordlstm.py`, "
        "`neuron_repro/train/classifier.py`).", "",
        "| | |", "|---|---|",
        "| data | IMDB (aclImdb v1.0): the 25,000 training reviews permuted with seed "
        f"{LOPES_SPLIT_SEED}, {study['sizes']['train']:,} train / {study['sizes']['val']:,} "
        f"validation; {study['sizes']['test']:,} test |",
        "| tokens | whitespace split (torchtext's default tokenizer): no lowercasing, no markup "
        "removal |",
        f"| vocabulary | the {c.max_vocab:,} most frequent training tokens, plus `<pad>` (0) and "
        f"`<unk>` (1): {len(study['vocab']):,} |",
        f"| model | embedding {c.embed_dim}, one LSTM layer of {c.hidden}, a linear output on "
        "the hidden state at each review's last token (padded batches); no dropout |",
        f"| training | Adam at {c.lr:g}, binary cross-entropy, batches of {c.batch_size} "
        f"(bucketed by length), {c.epochs} epochs, seed {trained.seed}; the epoch of best "
        f"validation accuracy kept: {trained.best_epoch + 1} |",
        "| validation accuracy per epoch | "
        + ", ".join(f"{v:.2f}" for v in trained.val_accuracy_per_epoch) + " |",
        f"| accuracy (kept weights) | train {acc['train']:.2f}, validation {acc['val']:.2f}, "
        f"test {acc['test']:.2f} |",
        f"| training time | {trained.train_seconds / 60:.1f} minutes on {ctx.device}, "
        f"{trained.reviews_per_second:.1f} reviews/s |",
        f"| cache key | `{trained.key or 'not cached'}` |",
        "| data files | " + "; ".join(f"`{p}` sha256 `{h[:16]}…`" for p, h in
                                      study["files"].items()) + " |",
        "", "Configuration:", "", "```", *(f"{k} = {v}" for k, v in asdict(c).items()), "```",
        "",
    ]
    return FigureSpec(CARD, "text", {"text": "\n".join(lines)}, "the word LSTM's model card")


def over_trainings(one, what: str):
    """An experiment judged over every training: ``one(ctx, claim, seed)`` measures one; the
    value is the mean over the trainings, with its t interval; the first training's details,
    figures and note are shown, beside every training's value (under ``what``)."""
    def run(ctx, claim: Claim) -> Measurement:
        seeds = _seeds(ctx)
        each = [one(ctx, claim, seed) for seed in seeds]
        values = [float(m.value) for m in each]
        first = each[0]
        finite = not any(np.isnan(values))
        return Measurement(
            float(np.mean(values)), {**first.details, what: _per_seed(values, seeds)},
            first.figures, note=first.note,
            budget={**first.budget, **_budget([_study(ctx, seed) for seed in seeds])},
            interval=_over_seeds(values, what) if finite else None)
    run.__doc__ = one.__doc__
    return run


EXPERIMENTS = register_experiments({
    "word_lstm_accuracy": accuracy_experiment,
    "lime_lexicon": over_trainings(lime_experiment, "median_lexicon_positive_in_top5"),
    "activation_maximization": over_trainings(activation_maximization_experiment,
                                              "rating_tokens_in_top10"),
    "corpus_search": over_trainings(search_experiment, "rating_tokens_in_top10"),
    "dataset_examples": over_trainings(dataset_examples_experiment, "same_polarity_share"),
})

FAMILY = register_family(Family(
    "lopes", settings=LopesSettings(),
    # the fixture IMDB has ratings planted (see fixtures/); its reviews are short and few: a
    # small model trained for longer learns their markers
    fixture_settings=LopesSettings(
        config=WordLSTMConfig(embed_dim=16, hidden=32, batch_size=4, lr=0.01, epochs=10),
        lime_samples=300, lime_reviews=5, queries=5, data_root=FIXTURE_DATA / "lopes"),
    # trained on the fixture reviews: no verdict is known, but each claim is measured
    fixture_measured=("lopes2019",)))

"""G. Lopes (2019), "An Integrative Approach to Visualizing Recurrent Neural Networks": a
word-level LSTM sentiment classifier on IMDB, explained with LIME, activation maximisation
and dataset examples."""

from harness.claims import Citation, Claim, Threshold, Tolerance

CITATION = Citation("lopes2019", 'Lopes 2019, "An Integrative Approach to Visualizing RNNs"')


def _cite(where):
    return Citation(CITATION.source, CITATION.reference, where)


def _shape(claim_id, statement, threshold, published="qualitative"):
    return Claim(id=f"lopes2019.{claim_id}", citation=_cite("explanations"), statement=statement,
                 kind="shape", metric=threshold.statistic, published=published,
                 threshold=threshold, requires_model="word-lstm", requires_data=("imdb",))


CLAIMS = [
    Claim(id="lopes2019.lstm_accuracy", citation=_cite("model section"),
          statement="word-level LSTM on IMDB, 17,500 train / 7,500 validation / 25,000 test: "
          "test accuracy (train 93.21, validation 84.98)",
          kind="value", metric="test accuracy (%)", published=84.64,
          tolerance=Tolerance(2.0, "two-sided", "seed and initialisation variance"),
          requires_model="word-lstm", requires_data=("imdb",)),
    _shape("lime_adjectives", "for a correctly classified positive review, at least 3 of the 5 "
           "words LIME ranks most positive are positive adjectives (sentiment lexicon)",
           Threshold("positive_adjectives_in_top5", ">=", 3, proposed=True)),
    _shape("activation_maximization_ratings", "gradient ascent on an input embedding to maximise "
           "the positive output: at least 4 of the 10 nearest vocabulary tokens are ratings",
           Threshold("rating_tokens_in_top10", ">=", 4), published="4 of 10"),
    _shape("corpus_search_agrees", "scoring every vocabulary token by a forward pass finds the "
           "same kind of tokens (ratings) as activation maximisation, at a higher cost",
           Threshold("rating_tokens_in_top10", ">=", 4, proposed=True)),
    _shape("dataset_examples", "nearest training bigrams by activation distance come from "
           "sentences of the query's predicted polarity",
           Threshold("same_polarity_share", ">", 0.5, proposed=True)),
]

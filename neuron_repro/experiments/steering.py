"""radford2017's steered generation (Section 5, Table 4): samples with the sentiment unit
held positive or negative, judged by a classifier that does not use the mLSTM.

- The unit and its sign are SST's (the L1 probe's largest weight). The clamp values: on
  OpenAI's release the source's +1 and -1 (times the sign); on any other model, whose unit
  lives on its own scale, the declared percentile of the unit's final cell states on SST
  train on each side of its polarity (99: the positive clamp is the 99th percentile in the
  positive direction, the negative clamp the 99th in the negative one).
- Three conditions of ``samples`` samples each from the same seed (so the same uniforms
  draw every condition's bytes): the positive clamp, the negative clamp, and no clamp.
- The judge: TF-IDF of word and punctuation unigrams and bigrams (sublinear term
  frequency, terms in at least two reviews), and logistic regression with scikit-learn's
  defaults (C = 1, lbfgs, up to 1000 iterations), trained on IMDB train (``<br />`` read as
  a space) and scored on IMDB test. The statistic is the share judged positive with the
  positive clamp minus the share with the negative clamp, in points; with a judge below the
  declared IMDB test accuracy it is no measurement (NOT RUN, the gap in the details).
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from neuron_repro.experiments.registry import Family, register_experiments, register_family
from neuron_repro.experiments.sentiment_unit import run_dataset_probe
from neuron_repro.generate import Clamp, as_text, generate
from neuron_repro.stats import difference_interval
from neuron_repro.verdicts import Claim, FigureSpec, Measurement

TOKENS = r"(?u)\w+|[^\w\s]"  # words, and each punctuation mark as a token of its own
CONDITIONS = ("positive", "negative", "unclamped")
EXAMPLES = 3  # samples of each condition shown in the report

_JUDGES: dict = {}  # one judge per IMDB release read in this process (model and control)


def _clean(text: str) -> str:
    return text.replace("<br />", " ")


def imdb_judge(ctx) -> tuple[object, float]:
    """The bag-of-words judge fitted on IMDB train, and its IMDB test accuracy (%)."""
    ds = ctx.dataset("imdb")
    key = tuple(sorted(ds.files.items()))
    if key not in _JUDGES:
        train, test = ds.splits["train"], ds.splits["test"]
        judge = make_pipeline(
            TfidfVectorizer(token_pattern=TOKENS, ngram_range=(1, 2), min_df=2,
                            sublinear_tf=True),
            LogisticRegression(max_iter=1000))
        judge.fit([_clean(t) for t in train.texts], train.labels)
        accuracy = 100.0 * float(np.mean(judge.predict([_clean(t) for t in test.texts])
                                         == test.labels))
        _JUDGES[key] = (judge, accuracy)
    return _JUDGES[key]


def clamp_values(ctx, unit: int, sign: int, percentile: float) -> tuple[dict, str]:
    """``({"positive": v, "negative": v}, how they were chosen)``."""
    if ctx.has_release:
        return ({"positive": float(sign), "negative": float(-sign)},
                "the source's +1 and -1 on OpenAI's release (times the unit's sign)")
    values = sign * ctx.states("sst", "train")["final_c"][:, unit]  # in the unit's polarity
    high, low = np.percentile(values, percentile), np.percentile(values, 100 - percentile)
    return ({"positive": float(sign * high), "negative": float(sign * low)},
            f"the {percentile:g}th percentile of the unit's final cell states on SST train, "
            "on each side of its polarity")


def steering_experiment(ctx, claim: Claim) -> Measurement:
    p = claim.params
    probe = run_dataset_probe(ctx, "sst")
    unit, sign = probe["sentiment_unit"], probe["sentiment_unit_sign"]
    if unit is None:
        return Measurement(float("nan"), {"why": "the probe on SST kept no unit"})
    values, how = clamp_values(ctx, unit, sign, p["percentile"])
    judge, judge_accuracy = imdb_judge(ctx)
    settings = {"prime": p["prime"], "clamp_state": p["clamp_state"],
                "temperature": p["temperature"], "seed": p["seed"], "n": p["samples"],
                "n_bytes": p["bytes"], "stop_byte": ord("\n")}
    samples, shares, lengths, positive = {}, {}, {}, {}
    for condition in CONDITIONS:
        clamps = [] if condition == "unclamped" else [Clamp(unit, values[condition])]
        raw = generate(ctx.model, clamps=clamps, device=ctx.device, **settings)
        lengths[condition] = float(np.mean([len(s) for s in raw]))
        samples[condition] = [as_text(s) for s in raw]
        positive[condition] = int(np.sum(judge.predict(samples[condition])))
        shares[condition] = 100.0 * positive[condition] / len(samples[condition])
    gap = shares["positive"] - shares["negative"]
    details = {
        "unit": unit, "sign": sign, "clamp_values": values, "clamp_values_from": how,
        "judge_accuracy": judge_accuracy,
        "judge": "TF-IDF (word and punctuation 1-2-grams, min_df 2, sublinear tf) + logistic "
                 "regression (scikit-learn defaults, 1000 iterations), IMDB train; accuracy "
                 "on IMDB test",
        **{f"share_positive_{c}": shares[c] for c in CONDITIONS},
        "positive_share_gap": gap,
        "mean_bytes": lengths,
        "examples": {c: samples[c][:EXAMPLES] for c in CONDITIONS},
        "settings": {**settings, "stop": "the sample ends at a newline (the next text)"},
    }
    figures = [FigureSpec(
        "generation_steering.png", "steering",
        {"shares": shares, "values": values, "title": f"Steered samples, judged by a "
         f"bag-of-words model\n({ctx.profile}; unit {unit}, {p['samples']} samples each)"},
        "samples with the sentiment unit clamped positive, negative and not at all: the share "
        "a bag-of-words judge trained on IMDB calls positive")]
    if judge_accuracy < p["judge_min_accuracy"]:
        details["why"] = (f"the judge's IMDB test accuracy is {judge_accuracy:.2f} %, below "
                          f"the {p['judge_min_accuracy']:g} % a judge needs; the gap it "
                          f"measured ({gap:.1f} points) is in the details")
        gap = float("nan")
    interval = None if np.isnan(gap) else difference_interval(
        positive["positive"], len(samples["positive"]), positive["negative"],
        len(samples["negative"]), "Newcombe, the judge's calls on the samples of each clamp")
    return Measurement(gap, details, figures, interval=interval,
                       budget={"samples per clamp": min(len(v) for v in samples.values())})


EXPERIMENTS = register_experiments({"steering": steering_experiment})

FAMILY = register_family(Family("steering", fixture_expected={
    # the planted head writes ")" when the unit is on its positive side and "(" on its
    # negative side, the fixture IMDB's two markers, so the clamp decides what the judge reads
    "radford2017.generation.steering": "PASS",
}))

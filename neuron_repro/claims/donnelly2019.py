"""Donnelly & Roegiest (2019), "On Interpretability and Feature Representations: An Analysis
of the Sentiment Neuron", ECIR 2019 (Kira Systems). OpenAI's released weights; MR, CR and
IMDB pooled and split 70 / 10 / 20 with a fixed seed; SST on OpenAI's splits."""

from neuron_repro.verdicts import Citation, Claim, Precondition, Threshold, Tolerance

CITATION = Citation("donnelly2019", "Donnelly & Roegiest, ECIR 2019")
ACCURACY = Tolerance(1.0, "two-sided", "library versions, seed of the 70/10/20 split")
DATASETS = ("sst", "mr", "cr", "imdb")



def _value(claim_id, where, statement, published, data, experiment=None, params=None,
           metric="test accuracy (%)"):
    return Claim(id=f"donnelly2019.{claim_id}", citation=CITATION.at(where), statement=statement,
                 kind="value", metric=metric, published=published, tolerance=ACCURACY,
                 experiment=experiment, params=params or {},
                 requires_model="openai-release", requires_data=data)


# Every claim about "the sentiment unit" presupposes that the model has one (on SST, with
# donnelly2019's probe); without it a claim is neither confirmed nor refuted.
SST_UNIT = (Precondition("sst", "donnelly"),)


def _shape(claim_id, where, statement, threshold, data, published="qualitative", metric="",
           experiment=None, **fields):
    return Claim(id=f"donnelly2019.{claim_id}", citation=CITATION.at(where), statement=statement,
                 kind="shape", metric=metric or threshold.statistic, published=published,
                 threshold=threshold, experiment=experiment, requires_model="mlstm",
                 requires_data=data, **fields)


TABLE1 = {  # dataset: (all units, sentiment unit deleted, sentiment unit only)
    "sst": (91.76, 91.87, 88.52), "mr": (87.52, 86.96, 84.52),
    "cr": (91.38, 90.72, 88.33), "imdb": (92.28, 91.77, 91.46),
}
TABLE2 = {  # dataset: (final cell state, mean over bytes, concat(final, mean))
    "sst": (91.76, 88.03, 91.76), "mr": (87.52, 82.97, 87.43),
    "cr": (91.38, 89.52, 90.45), "imdb": (92.28, 92.82, 93.86),
}
TABLE3 = {  # suffix: {features: accuracies on sst, mr, cr, imdb1, imdb10}
    "positive": {"final": (52.17, 57.22, 77.06, 91.16, 50.30),
                 "mean": (89.13, 82.88, 90.05, 92.87, 89.73),
                 "concat": (53.93, 61.07, 79.97, 93.50, 61.25)},
    "negative": {"final": (72.16, 59.52, 48.01, 90.69, 53.17),
                 "mean": (89.02, 83.63, 90.98, 92.91, 92.68),
                 "concat": (73.31, 57.74, 42.44, 93.07, 81.29)},
}
SUFFIX = {"positive": " Wonderful", "negative": " Terrible"}
SUFFIX_MARGIN = 20.0  # points above the majority class (see suffix_attack_shape)
TABLE1_WHAT = {"all": "all units", "sn_deleted": "the sentiment unit's column zeroed, then refit",
               "sn_only": "the sentiment unit alone"}
TABLE2_WHAT = {"final": "the final cell state", "mean": "the cell state averaged over bytes",
               "concat": "concat(final, mean)"}

CLAIMS = [
    *[
        _value(f"table1.{what}.{ds}", "Table 1", f"{ds.upper()}: accuracy with {TABLE1_WHAT[what]}",
               TABLE1[ds][i], (ds,), "donnelly_table1", {"dataset": ds, "what": what})
        for i, what in enumerate(TABLE1_WHAT) for ds in DATASETS
    ],
    _shape("sn_not_necessary", "Table 1, Section 4.1",
           "deleting the sentiment unit changes accuracy by at most 1 point on every dataset",
           Threshold("max_abs_change", "<=", 1.0), DATASETS,
           metric="largest |all - deleted| over the datasets with a unit (points)",
           experiment="donnelly_sn_not_necessary", version=2,
           history=("v2: judged over the datasets whose probe has a sentiment unit (the "
                    "others named), NOT RUN when none has one",),
           preconditions=tuple(Precondition(ds, "donnelly") for ds in DATASETS),
           precondition_mode="any"),
    Claim(id="donnelly2019.single_ablation_sweep", citation=CITATION.at("Section 4.1, Figure 2"),
          statement="refit once per unit with that unit deleted (SST): accuracies span about "
          "91.54 to 92.15; the best deletion's unit is near chance on its own",
          kind="value+shape", metric="best accuracy after one deletion (%)", published=92.15,
          tolerance=ACCURACY, experiment="donnelly_single_ablation_sweep",
          shape_threshold=Threshold("best_unit_alone_minus_majority", "<=", 5.0, proposed=True),
          requires_model="openai-release", requires_data=("sst",), version=2,
          rationale="\"near chance\" is read as the best deletion's unit, alone, within 5 "
          "points of the majority class (proposed)",
          history=("v2: the shape half is judged too",)),
    _shape("single_unit_sweep", "Figure 3",
           "a classifier on each unit alone: other units rival the sentiment unit (at least one "
           "within 2 points of it)", Threshold("gap_to_best_other", "<=", 2.0, proposed=True),
           ("sst",), published="Fig. 3",
           metric="sentiment unit alone minus the best other unit alone (points)",
           experiment="donnelly_single_unit_sweep", preconditions=SST_UNIT, version=2,
           history=("v2: a sentiment unit on SST is a precondition",)),
    _shape("cumulative_ablation", "Figure 4",
           "deleting units in order of decreasing L1 weight: accuracy reaches the sentiment-unit-"
           "only level with about 100 units left (of 4096), then falls steeply",
           Threshold("share_of_units_left_at_unit_only_level", "<=", 0.05, proposed=True,
                     also=(Threshold("reaches_level", "==", 1),
                           Threshold("share_of_margin_lost_after", ">=", 0.5, proposed=True))),
           ("sst",), published="~100 units",
           metric="units left when accuracy first falls below the unit-only level / all units",
           experiment="donnelly_cumulative_ablation", preconditions=SST_UNIT, version=2,
           rationale="\"about 100 units\" of OpenAI's 4096 is 2.4 %; the threshold is a share "
           "so that it reads the same on a model of another size. \"Then falls steeply\": "
           "from the crossing to one unit left the accuracy loses at least half of the level's "
           "margin over the majority class (proposed), where the source's curve falls to near "
           "chance",
           history=("v2: a curve that never falls below the level is not a PASS "
                    "(reaches_level), and \"then falls steeply\" is judged",)),
    _shape("random100", "Figure 5",
           "1000 classifiers on 100 random units (of 4096): accuracies roughly normal; more than "
           "half beat the sentiment unit alone",
           Threshold("share_beating_unit", ">", 0.5,
                     also=(Threshold("abs_skewness", "<=", 1.0, proposed=True),
                           Threshold("abs_excess_kurtosis", "<=", 1.0, proposed=True))),
           ("sst",), published="Fig. 5", metric="share of the 1000 above the sentiment unit alone",
           experiment="donnelly_random100", preconditions=SST_UNIT,
           protocol={"classifiers": 1000}, version=2,
           rationale="\"roughly normal\" is |skewness| <= 1 and |excess kurtosis| <= 1 "
           "(proposed: a rule of thumb; a formal test at n = 1000 rejects any small departure)",
           history=("v2: each classifier draws the source's share of the units (100 of 4096, "
                    "at least one), and \"roughly normal\" is judged",)),
    *[
        _value(f"table2.{what}.{ds}", "Table 2", f"{ds.upper()}: accuracy with {TABLE2_WHAT[what]}",
               TABLE2[ds][i], (ds,), "donnelly_table2", {"dataset": ds, "features": what})
        for i, what in enumerate(TABLE2_WHAT) for ds in DATASETS
    ],
    Claim(id="donnelly2019.error_overlap", citation=CITATION.at("Section 4.2"),
          statement="share of test errors common to the final-state and mean-pool classifiers",
          kind="value", metric="shared errors / all errors (%), mean over datasets",
          published=35.0,
          tolerance=Tolerance(5.0, "two-sided", "the source gives a range of 30 to 40 %"),
          experiment="donnelly_error_overlap",
          requires_model="openai-release", requires_data=DATASETS),
    *[
        _value(f"table3.{polarity}.{feats}.{ds}", "Table 3",
               f'accuracy with the word "{SUFFIX[polarity].strip()}" appended to every {ds} '
               f"test text "
               f"({TABLE2_WHAT[feats]}, classifier trained on clean text)",
               TABLE3[polarity][feats][i], ("imdb" if ds.startswith("imdb") else ds,),
               "donnelly_table3",
               {"dataset": "imdb" if ds.startswith("imdb") else ds, "polarity": polarity,
                "features": feats, "repeats": 10 if ds == "imdb10" else 1})
        for polarity in TABLE3 for feats in TABLE3[polarity]
        for i, ds in enumerate(("sst", "mr", "cr", "imdb1", "imdb10"))
    ],
    _shape("suffix_attack_shape", "Table 3, Section 4.3",
           "on short texts (SST, MR, CR) one suffix word lowers final-state accuracy by at least "
           "10 points while mean-pool loses at most 2; on IMDB one word costs final-state at most "
           "2 points but ten words at least 20", Threshold("relations_holding", ">=", 4,
                                                          proposed=True), DATASETS,
           metric="how many of the 4 relations hold", experiment="donnelly_suffix_attack",
           preconditions=tuple(Precondition(ds, "donnelly", kind="classifier", features=f,
                                            margin=SUFFIX_MARGIN)
                               for ds in DATASETS for f in ("final", "mean")),
           version=2,
           rationale="the relations are about how much accuracy an appended word costs a "
           "classifier trained on clean text; one near the majority class has none to lose (a "
           "prediction pushed to one class costs it at most its margin), so \"drops >= 20\" "
           "cannot hold and \"drops <= 2\" holds trivially. Every classifier attacked, "
           "final-state and mean-pool on each dataset, must beat its test set's majority class "
           "by at least 20 points, the largest drop the claim asks for (proposed; the source's "
           "clean classifiers are about 26 (CR, 64 % positive) to 42 points above it)",
           history=("v2: the classifier precondition (without it a model with no sentiment "
                    "signal at all was judged FAIL)",)),
    _shape("opposite_polarity", "Section 5 (NVIDIA's reproduction)",
           "a retrained model's sentiment unit may have the opposite sign; the harness reports "
           "the sign and never scores a negative unit as a 7 % classifier",
           Threshold("margin_over_majority_and_flipped", ">", 0.0), ("sst",),
           metric="zero-shot accuracy with the unit's sign minus the larger of the majority "
           "class and zero-shot with the sign flipped (points)",
           experiment="donnelly_opposite_polarity", preconditions=SST_UNIT, version=2,
           history=("v2: the statistic fails when the sign is ignored: zero-shot with the "
                    "unit's sign must beat both the majority class and zero-shot with the "
                    "sign flipped",)),
]

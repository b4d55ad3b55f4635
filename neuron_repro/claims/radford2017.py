"""Radford, Jozefowicz & Sutskever (2017), "Learning to Generate Reviews and Discovering
Sentiment", arXiv 1704.01444, and OpenAI's post "Unsupervised sentiment neuron"."""

from neuron_repro.verdicts import Citation, Claim, Precondition, Threshold, Tolerance

CITATION = Citation("radford2017", "Radford, Jozefowicz & Sutskever 2017, arXiv 1704.01444")

# Liblinear and BLAS differ across versions, and one preprocessing byte moves a sentence;
# donnelly2019 measured 91.76 with the same weights against the paper's 91.8.
ACCURACY = Tolerance(1.0, "two-sided", "library versions and preprocessing details")



CLAIMS = [
    Claim(
        id="radford2017.sst.full_features",
        citation=CITATION.at("Section 4.1, Table 2"),
        statement="L1 logistic regression on the final cell states reaches this SST binary "
        "test accuracy",
        kind="value", metric="test accuracy (%)", published=91.8, tolerance=ACCURACY,
        experiment="probe", params={"dataset": "sst", "quantity": "test_accuracy"},
        requires_model="openai-release", requires_data=("sst",),
    ),
    Claim(
        id="radford2017.sst.sentiment_unit_only",
        citation=CITATION.at("Section 4.2; donnelly2019 Table 1: 88.52"),
        statement="the single unit with the largest L1 weight, alone, same protocol",
        kind="value", metric="test accuracy (%)", published=88.5, tolerance=ACCURACY,
        experiment="probe", params={"dataset": "sst", "quantity": "sentiment_unit_accuracy"},
        requires_model="openai-release", requires_data=("sst",),
    ),
    Claim(
        id="radford2017.sst.one_dominant_unit",
        citation=CITATION.at("Section 4.2, Figure 2 (unit 2388 in OpenAI's weights)"),
        statement="in the L1 model the largest absolute weight is an outlier: at least twice "
        "the second largest",
        kind="shape", metric="largest / second largest absolute L1 weight",
        published="unit 2388",
        rationale="the claim presupposes a sentiment unit, as the other claims about the unit "
        "do: a probe at chance keeps noise weights whose largest can be an outlier too (on "
        "Gaussian noise, 1,000 x 64 with random labels, one draw in 20 gave 6.8 times the "
        "second)",
        history=("v2: a probe that kept a single weight (ratio infinite) counted only when "
                 "that unit alone beat the majority class",
                 "v3: a sentiment unit on SST is a precondition (v2 judged a probe at chance "
                 "PASS); v2's single-weight rule is now the precondition itself"),
        threshold=Threshold("weight_ratio", ">=", 2.0, proposed=True),
        experiment="dominant_unit", params={"dataset": "sst"},
        preconditions=(Precondition("sst"),),
        requires_model="mlstm", requires_data=("sst",), version=3,
    ),
    Claim(
        id="radford2017.sst.label_efficiency",
        citation=CITATION.at("Section 4.1, Figure 3"),
        statement="with 11 labelled examples the L1 model matches a multichannel CNN trained on "
        "all 6,920 (Kim 2014: 88.1 %); with 232 it matches CT-LSTM ensembles; the whole curve "
        "(11, 32, 100, 232, 1000, 6920; 10 draws each)",
        kind="value+shape", metric="test accuracy (%) at 11 examples", published=88.1,
        tolerance=ACCURACY, requires_model="openai-release", requires_data=("sst",),
        experiment="label_efficiency",
        params={"sizes": (11, 32, 100, 232, 1000, 6920), "draws": 10, "seed": 0,
                "shape_size": 232},
        rationale="the value half (the mean at 11) is judged on OpenAI's release only. The "
        "shape half is this project's reading of \"with 232 it matches [models] trained on "
        "all\": the mean at 232 is within 2 points of the curve's own full-data accuracy "
        "(proposed). A probe at chance is flat and would meet it on any model, so the half "
        "presupposes a sentiment unit on SST, as the claims about that unit do",
        history=("v2: measured (the curve, 10 draws a size), with the shape half and its "
                 "precondition",),
        shape_threshold=Threshold("gap_at_232", "<=", 2.0, proposed=True),
        preconditions=(Precondition("sst"),), protocol={"draws": 10}, version=2,
    ),
    *[
        Claim(
            id=f"radford2017.{name}.full_features",
            citation=CITATION.at("Table 1"),
            statement=f"L1 probe on the final cell states, 10-fold cross-validation on {label}",
            kind="value", metric="mean test accuracy over 10 folds (%)", published=value,
            tolerance=ACCURACY, experiment="probe",
            params={"dataset": name, "quantity": "test_accuracy", "protocol": "10-fold"},
            requires_model="openai-release", requires_data=(name,),
        )
        for name, label, value in (
            ("mr", "MR", 86.9), ("cr", "CR", 91.4), ("subj", "SUBJ", 94.6), ("mpqa", "MPQA", 88.5),
        )
    ],
    Claim(
        id="radford2017.imdb.full_features",
        citation=CITATION.at("Section 4.1, Table 3"),
        statement="L1 probe on the final cell states, IMDB 25k train / 25k test (C chosen on a "
        "seeded 10 % of train)",
        kind="value", metric="test accuracy (%)", published=92.88, tolerance=ACCURACY,
        experiment="probe", params={"dataset": "imdb", "quantity": "test_accuracy"},
        requires_model="openai-release", requires_data=("imdb",),
    ),
    Claim(
        id="radford2017.generation.steering",
        citation=CITATION.at("Section 5, Table 4"),
        statement="fixing the sentiment unit to +1 (-1) while sampling makes reviews positive "
        "(negative), judged by a bag-of-words classifier trained on IMDB: the share judged "
        "positive differs by at least 30 points",
        kind="shape", metric="share positive at +1 minus at -1 (points)", published="qualitative",
        rationale="a judge that cannot tell IMDB's test reviews apart judges nothing, so "
        "below 80 % IMDB test accuracy of its own (a bag-of-words model reaches about 90) the "
        "claim is NOT RUN. The source gives no temperature, length or count, so the sample is "
        "the model's own distribution (temperature 1) from the start of a text, at most 256 "
        "bytes or until the model starts its next text (a newline), 100 samples per clamp "
        "from one seed. The cell state is clamped (h follows from it by the equations): the "
        "feature that defines the unit is the cell state",
        history=("v2: a sentiment unit on SST is a precondition",
                 "v3: before its first measurement, the judge's own accuracy and the "
                 "declared settings"),
        threshold=Threshold("positive_share_gap", ">=", 30.0, proposed=True),
        experiment="steering",
        params={"samples": 100, "bytes": 256, "prime": "", "temperature": 1.0, "seed": 0,
                "clamp_state": "c", "percentile": 99, "judge_min_accuracy": 80.0},
        requires_model="mlstm", requires_data=("sst", "imdb"),
        preconditions=(Precondition("sst"),), protocol={"samples per clamp": 100},
        version=3,
    ),
]

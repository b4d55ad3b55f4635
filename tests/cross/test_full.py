"""The full tier (``pytest --full --full-data D``): the real datasets read as their releases
count them, and the committed reference model as its card describes it."""

from pathlib import Path

import pytest

from neuron_repro.data import load_dataset
from neuron_repro.data.conll import load_conll
from neuron_repro.models.mlstm import MLSTM
from neuron_repro.repro import REPO_ROOT

pytestmark = pytest.mark.full

# (dataset, split or "pool"): (texts, positives), as the releases have them
COUNTS = {
    ("sst", "train"): (6920, 3610), ("sst", "dev"): (872, 444), ("sst", "test"): (1821, 909),
    ("mr", "pool"): (10662, 5331), ("cr", "pool"): (3771, 2405),
    ("subj", "pool"): (10000, 5000), ("mpqa", "pool"): (10603, 3311),
    ("imdb", "train"): (25000, 12500), ("imdb", "test"): (25000, 12500),
    ("yelp", "test"): (1000, 482),
}


@pytest.fixture(scope="module")
def data_root(request) -> Path:
    root = request.config.getoption("--full-data")
    if not root:
        pytest.fail("the full tier reads the real datasets: pass --full-data D")
    return Path(root)


@pytest.mark.parametrize("name", sorted({name for name, _ in COUNTS}))
def test_real_datasets_have_their_release_counts(data_root, name):
    ds = load_dataset(name, data_root)
    for (dataset, split), (n, positives) in COUNTS.items():
        if dataset == name:
            part = ds.pool if split == "pool" else ds.splits[split]
            assert (len(part), int(part.labels.sum())) == (n, positives), (name, split)


def test_the_real_mr_and_subj_files_have_the_pinned_sha256(data_root):
    from neuron_repro.cache import sha256_file
    from neuron_repro.fetch import SOURCES

    for name in ("mr", "subj"):
        for member in SOURCES[name].members:
            assert sha256_file(data_root / member.dest) == member.sha256, member.dest


def test_conll_has_its_sentence_counts(data_root):
    splits = load_conll(data_root).splits
    assert {k: len(v) for k, v in splits.items()} == {"train": 14041, "dev": 3250,
                                                      "test": 3453}


def test_the_reference_model_is_what_its_card_says():
    model = MLSTM.load(REPO_ROOT / "models" / "mlstm256-imdb")
    control = MLSTM.load(REPO_ROOT / "models" / "mlstm256-imdb" / "initial")
    card = (REPO_ROOT / "models" / "mlstm256-imdb.md").read_text()
    assert model.n_units == control.n_units == 256
    assert model.sha256 in card and control.sha256 in card


@pytest.mark.parametrize("char", ["nochar", "charlstm", "charcnn"])
@pytest.mark.parametrize("crf", [False, True])
def test_word_cnn_taggers_train_on_conll_without_diverging(data_root, char, crf):
    """Under NCRF++'s word-CNN settings (lr 0.005) the first 2,000 training sentences pass
    without the loss leaving the finite numbers; at lr 0.015 they diverged by batch 124."""
    from neuron_repro.data.glove import find_glove
    from neuron_repro.models.tagger import TaggerConfig
    from neuron_repro.train.tagger import train_tagger

    splits = load_conll(data_root).splits
    splits = {"train": splits["train"][:2000], "dev": splits["dev"][:200]}
    trained = train_tagger(TaggerConfig(char=char, word="wordcnn", crf=crf), splits,
                           find_glove(None, data_root), epochs=1, seed=0, progress=False)
    print(f"{trained.config.name}: {trained.sentences_per_second:.0f} sentences/s, dev F1 "
          f"{trained.dev_f1[-1]}")
    assert trained.dev_f1[-1] > 0

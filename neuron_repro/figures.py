"""Every figure of a report, and the only module that imports matplotlib.

An experiment never draws: it returns :class:`~neuron_repro.verdicts.FigureSpec` objects (a
file name, a kind, the data and a caption), and the runner hands each to :func:`draw` once the
claim is judged. A kind is one of the functions registered below with :func:`kind`; each takes
its data as keyword arguments and the ``path`` to write.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuron_repro.io import atomic_write

KINDS: dict[str, Callable[..., None]] = {}


def kind(function):
    """Register a drawing function under its name without the ``plot_`` prefix."""
    KINDS[function.__name__.removeprefix("plot_")] = function
    return function


def draw(spec, folder: Path) -> str:
    """Draw ``spec`` into ``folder`` (written atomically) and return its file name."""
    if spec.kind not in KINDS:
        raise KeyError(f"no figure kind {spec.kind!r}; known: {', '.join(sorted(KINDS))}")
    folder.mkdir(parents=True, exist_ok=True)
    KINDS[spec.kind](path=folder / spec.name, **spec.data)
    return spec.name


# ----------------------------------------------------------------------------- probes, sweeps
@kind
def plot_l1_weights(coef, path: Path, title: str, top: int = 30) -> None:
    """Bar chart of the largest absolute L1 weights; the sentiment unit is the first bar."""
    coef = np.asarray(coef)
    order = np.argsort(-np.abs(coef))[:top]
    fig, ax = _figure((8, 3.2))
    colors = ["tab:red" if i == 0 else "tab:gray" for i in range(len(order))]
    ax.bar(range(len(order)), coef[order], color=colors)
    ax.set_xticks(range(len(order)), [str(u) for u in order], rotation=90, fontsize=7)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("unit (by decreasing |weight|)")
    ax.set_ylabel("L1 weight")
    ax.set_title(f"{title}; {np.count_nonzero(coef)} of {len(coef)} non-zero", fontsize=9)
    _save(fig, path)


@kind
def plot_unit_values(values, labels, path: Path, threshold: float, title: str) -> None:
    """Histograms of one unit's value for negative and positive texts."""
    values, labels = np.asarray(values), np.asarray(labels)
    fig, ax = _figure((6, 3.2))
    bins = np.histogram_bin_edges(values, bins=40)
    ax.hist(values[labels == 0], bins=bins, alpha=0.6, label="negative", color="tab:blue")
    ax.hist(values[labels == 1], bins=bins, alpha=0.6, label="positive", color="tab:orange")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("final cell state of the unit")
    ax.set_ylabel("texts")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


@kind
def plot_per_unit(accuracy, path: Path, title: str, ylabel: str, line=None, line_label="",
                  mark=None, mark_label="") -> None:
    """Accuracy per unit (deletion or single-unit sweep), with a reference line and one unit
    marked."""
    accuracy = np.asarray(accuracy)
    fig, ax = _figure((8, 3.2))
    ax.plot(np.arange(len(accuracy)), accuracy, ".", ms=3, color="tab:gray")
    if line is not None:
        ax.axhline(line, color="tab:blue", lw=1, label=line_label)
    if mark is not None:
        ax.plot([mark], [accuracy[mark]], "o", color="tab:red", label=mark_label)
    ax.set_xlabel("unit")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


@kind
def plot_cumulative(units_left, accuracy, level, path: Path, title: str) -> None:
    fig, ax = _figure((6, 3.2))
    ax.plot(units_left, accuracy, color="tab:gray")
    ax.axhline(level, color="tab:red", ls="--", lw=1, label="sentiment unit alone")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("units left (deleted in order of decreasing |L1 weight|)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


@kind
def plot_histogram(values, marker, path: Path, title: str, marker_label: str) -> None:
    fig, ax = _figure((6, 3.2))
    ax.hist(values, bins=40, color="tab:gray")
    ax.axvline(marker, color="tab:red", ls="--", lw=1, label=marker_label)
    ax.set_xlabel("test accuracy (%)")
    ax.set_ylabel("classifiers")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


# ----------------------------------------------------------------------------- lopes2019
@kind
def plot_training_curve(train_running, val, best_epoch, test, path: Path, title: str) -> None:
    fig, ax = _figure((5.5, 3.4))
    epochs = np.arange(1, len(val) + 1)
    ax.plot(epochs, train_running, "o-", label="train (running, during the epoch)")
    ax.plot(epochs, val, "s-", label="validation")
    ax.axvline(best_epoch + 1, color="tab:gray", ls=":", lw=1, label="epoch kept")
    ax.axhline(test, color="tab:red", ls="--", lw=1, label=f"test, kept weights ({test:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(epochs)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


@kind
def plot_lime_explanation(words, weights, review, path: Path, title: str, top: int = 10,
                          shown_words: int = 120, per_line: int = 86) -> None:
    """LIME's explanation as the source's Figures 1 and 2 draw it: the largest word weights
    as bars (red towards positive, blue towards negative), and the review's first words
    with each word's background coloured by its weight."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    weights = np.asarray(weights, dtype=float)
    weight_of = dict(zip(words, weights, strict=True))
    order = np.argsort(-np.abs(weights), kind="stable")[:top][::-1]
    fig = Figure(figsize=(11, 5.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[1, 2.6])
    bars, text = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    bars.barh(range(len(order)), weights[order],
              color=["tab:red" if weights[i] > 0 else "tab:blue" for i in order])
    bars.set_yticks(range(len(order)), [words[i] for i in order], fontsize=8)
    bars.axvline(0, color="black", lw=0.6)
    bars.set_xlabel("LIME weight (towards P(positive))", fontsize=8)
    limit = float(np.abs(weights).max()) or 1.0
    cmap, norm = colormaps["coolwarm"], Normalize(-limit, limit)
    text.set_axis_off()
    lines, line = [], []
    for word in review[:shown_words]:
        if line and sum(len(w) + 1 for w in line) + len(word) > per_line:
            lines.append(line)
            line = []
        line.append(word)
    lines.append(line)
    if len(review) > shown_words:
        lines[-1].append("…")
    step = 1.0 / max(len(lines), 22)
    for n, line in enumerate(lines):
        x = 0.0
        for word in line:
            w = weight_of.get(word, 0.0)
            colour = cmap(norm(w)) if w else (1, 1, 1, 0)
            text.text(x, 1 - (n + 0.5) * step, word, family="monospace", fontsize=7.5,
                      va="center", bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.6})
            x += (len(word) + 1) / per_line
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


@kind
def plot_token_search(found: dict, path: Path) -> None:
    """For each token: the model's P(positive) of the training reviews that contain it."""
    fig, axes = _figure((2.6 * len(found), 2.8), 1, len(found), sharey=False, squeeze=False)
    for ax, (token, probs) in zip(axes[0], found.items(), strict=True):
        ax.hist(probs, bins=np.linspace(0, 1, 21), color="tab:gray")
        ax.set_title(f"{token!r}: {len(probs):,} reviews", fontsize=8)
        ax.set_xlabel("P(positive)", fontsize=8)
    axes[0][0].set_ylabel("training reviews", fontsize=8)
    _save(fig, path)


@kind
def plot_bigram_agreement(query_positive, neighbour_probability, share, control,
                          path: Path, title: str) -> None:
    """The mean P(positive) of each query's nearest bigrams' reviews, by the query's side."""
    fig, ax = _figure((5.5, 3.4))
    query_positive = np.asarray(query_positive, dtype=bool)
    for side, colour, label in ((True, "tab:orange", "queries predicted positive"),
                                (False, "tab:blue", "queries predicted negative")):
        values = np.asarray(neighbour_probability)[query_positive == side].ravel()
        ax.hist(values, bins=np.linspace(0, 1, 21), alpha=0.6, color=colour, label=label)
    ax.axvline(0.5, color="black", lw=0.6)
    ax.set_xlabel("mean P(positive) of the reviews holding a nearest bigram")
    ax.set_ylabel("bigrams")
    ax.set_title(f"{title}\nmajority on the query's side: {share:.2f} (random bigrams "
                 f"{control:.2f})", fontsize=8)
    ax.legend(fontsize=7)
    _save(fig, path)


@kind
def plot_byte_heatmap(chars, values, row_of, path: Path, title: str, limit: float,
                      per_row: int = 64) -> None:
    """A text as the blog draws it: rows of ``per_row`` bytes, each character's background
    coloured by one unit's value after its last byte (diverging colormap, limits
    ``±limit``, colour bar). ``row_of[i]`` is the row of character ``i`` (its first byte's
    offset // per_row), so a multi-byte character is one coloured cell."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    cmap, norm = colormaps["RdBu_r"], Normalize(-limit, limit)
    n_rows = int(row_of[-1]) + 1 if len(row_of) else 1
    fig = Figure(figsize=(8.4, 1.1 + 0.2 * n_rows))
    grid = fig.add_gridspec(1, 2, width_ratios=[50, 1])
    ax, bar = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    ax.set_xlim(0, per_row)
    ax.set_ylim(n_rows, 0)
    ax.set_axis_off()
    column, last_row = 0, -1
    for char, value, row in zip(chars, values, row_of, strict=True):
        if row != last_row:
            column, last_row = 0, row
        ax.add_patch(_rectangle(column, row, cmap(norm(value))))
        shown = "↵" if char == "\n" else char
        ax.text(column + 0.5, row + 0.55, shown, family="monospace", fontsize=8,
                ha="center", va="center")
        column += 1
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm, cmap), cax=bar).ax.tick_params(labelsize=7)
    ax.set_title("\n".join(textwrap.wrap(title, 110)), fontsize=7.5, loc="left")
    _save(fig, path)


def _rectangle(x, y, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="none")


@kind
def plot_two_distributions(first, second, labels, path: Path, title: str, xlabel: str,
                           log: bool = True) -> None:
    """Density histograms of two samples on shared (log-spaced) bins."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    both = np.concatenate([first, second])
    fig, ax = _figure((6, 3.2))
    if log:
        positive = both[both > 0]
        low = positive.min() if positive.size else 1e-6
        bins = np.geomspace(low, max(both.max(), low * 10), 50)
        ax.set_xscale("log")
    else:
        bins = np.histogram_bin_edges(both, bins=40)
    for values, label, colour in ((first, labels[0], "tab:red"),
                                  (second, labels[1], "tab:gray")):
        ax.hist(np.clip(values, bins[0], None), bins=bins, density=True, alpha=0.55,
                color=colour, label=f"{label} (n = {len(values):,}, mean {values.mean():.3g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


@kind
def plot_length_distributions(lengths, correct, path: Path, title: str) -> None:
    """Byte lengths of all texts, of those classified correctly and of the wrong ones."""
    lengths, correct = np.asarray(lengths, float), np.asarray(correct, bool)
    fig, ax = _figure((6, 3.2))
    bins = np.geomspace(max(lengths.min(), 1), lengths.max() + 1, 40)
    ax.hist(lengths, bins=bins, histtype="step", color="black", lw=1.2,
            label=f"all (n = {len(lengths):,})")
    ax.hist(lengths[correct], bins=bins, alpha=0.55, color="tab:green",
            label=f"correct (n = {int(correct.sum()):,})")
    ax.hist(lengths[~correct], bins=bins, alpha=0.7, color="tab:red",
            label=f"wrong (n = {int((~correct).sum()):,})")
    ax.set_xscale("log")
    ax.set_xlabel("review length (bytes)")
    ax.set_ylabel("reviews")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


@kind
def plot_label_efficiency(sizes, accuracies, path: Path, title: str, marks=()) -> None:
    """Test accuracy against labelled training examples: every draw, and the mean with the
    draws' standard deviation; ``marks`` are ``(n, accuracy, label)`` points to show."""
    fig, ax = _figure((6, 3.6))
    sizes = np.asarray(sizes)
    for n, acc in zip(sizes, accuracies, strict=True):
        ax.plot(np.full(len(acc), n), acc, ".", color="tab:gray", ms=3, alpha=0.7)
    mean = np.array([np.mean(a) for a in accuracies])
    sd = np.array([np.std(a, ddof=1) if len(a) > 1 else 0.0 for a in accuracies])
    ax.errorbar(sizes, mean, yerr=sd, color="tab:blue", marker="o", ms=4, capsize=3,
                label="mean ± sd over draws")
    for n, acc, label in marks:
        ax.plot([n], [acc], "*", ms=11, color="tab:red", label=label)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes], fontsize=7)
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


@kind
def plot_steering(shares: dict, values: dict, path: Path, title: str) -> None:
    """Share of samples judged positive under each clamp (``shares``: condition -> %)."""
    fig, ax = _figure((5, 3.2))
    names = list(shares)
    colours = {"positive": "tab:red", "negative": "tab:blue"}
    labels = [f"{c}\n(unit = {values[c]:.3g})" if c in values else c for c in names]
    bars = ax.bar(labels, [shares[c] for c in names],
                  color=[colours.get(c, "tab:gray") for c in names])
    ax.bar_label(bars, fmt="%.0f %%", fontsize=8)
    ax.axhline(50, color="black", lw=0.6, ls=":")
    ax.set_ylim(0, 105)
    ax.set_ylabel("judged positive (%)")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def _figure(size, *grid, **kwargs):
    # Figure objects, not pyplot: no global state, so a model and its control can draw at once.
    # ``grid`` and ``kwargs`` go to ``Figure.subplots`` (one axes by default).
    fig = Figure(figsize=size)
    return fig, fig.subplots(*grid, **kwargs)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_write(path, ".png.tmp") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


# ----------------------------------------------------------------------------- nerneurons2020
def _heatmap(ax, matrix, xlabels, ylabels, title, cmap="RdBu_r", centre=True, annotate=False):
    matrix = np.asarray(matrix, dtype=float)
    limit = np.nanmax(np.abs(matrix)) if centre else None
    image = ax.imshow(matrix, cmap=cmap, aspect="auto",
                      vmin=-limit if centre else None, vmax=limit if centre else None)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=90, fontsize=7)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
    ax.set_title(title, fontsize=8)
    if annotate:
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, f"{v:.2g}" if isinstance(v, float) and v % 1 else f"{v:g}",
                    ha="center", va="center", fontsize=6)
    return image


@kind
def plot_ner_sensitivity(model: dict, path: Path) -> None:
    """One tagger's sensitivity of every unit to every tag."""
    fig, ax = _figure((5, 7))
    image = _heatmap(ax, model["sens"], model["tags"], None,
                     f"sensitivity (units x tags), seed {model['seed']}")
    ax.set_ylabel("unit")
    fig.colorbar(image, ax=ax)
    _save(fig, path)


@kind
def plot_ner_tag_correlation(models: list[dict], path: Path) -> None:
    """Each seed's correlation of tag sensitivity vectors over units."""
    cols = min(len(models), 5)
    rows = -(-len(models) // cols)
    fig, axes = _figure((3 * cols, 3 * rows), rows, cols, squeeze=False)
    axes = axes.ravel()
    for ax, m in zip(axes, models, strict=False):
        _heatmap(ax, m["corr"], m["tags"], m["tags"], f"seed {m['seed']}")
    for ax in axes[len(models):]:
        ax.axis("off")
    fig.suptitle("correlation of tag sensitivity vectors over units", fontsize=9)
    _save(fig, path)


@kind
def plot_ner_ablation(tags, curves, path: Path) -> None:
    """Token accuracy per gold tag as each tag's top-k units are zeroed."""
    fig, axes = _figure((11, 9), 3, 3, sharex=True, sharey=True)
    axes = axes.ravel()
    ks = np.arange(curves.shape[1])
    for target, ax in enumerate(axes[:len(tags)]):
        for j, tag in enumerate(tags):
            ax.plot(ks, curves[target, :, j], lw=2.6 if j == target else 0.8, color=f"C{j}",
                    label=tag)
        ax.set_title(f"top-k units of {tags[target]} zeroed (thick: {tags[target]})",
                     fontsize=8)
    axes[0].legend(fontsize=6, ncol=2)
    for ax in axes[6:]:
        ax.set_xlabel("k")
    for ax in axes[::3]:
        ax.set_ylabel("token accuracy per gold tag")
    _save(fig, path)


@kind
def plot_tag_square(matrix, tags, title, path: Path, centre=True) -> None:
    """A tags x tags matrix, annotated."""
    fig, ax = _figure((4.6, 4))
    image = _heatmap(ax, matrix, tags, tags, title, cmap="RdBu_r" if centre else "viridis",
                     centre=centre, annotate=True)
    fig.colorbar(image, ax=ax)
    _save(fig, path)


@kind
def plot_ner_seed_matching(first: dict, second: dict, cols, path: Path) -> None:
    """Two seeds' sensitivity matrices, the second's units matched to the first's."""
    fig, (left, right) = _figure((7, 6), 1, 2, sharey=True)
    _heatmap(left, first["sens"], first["tags"], None, f"seed {first['seed']}")
    _heatmap(right, second["sens"][cols], second["tags"], None,
             f"seed {second['seed']}, units matched to seed {first['seed']}")
    left.set_ylabel("unit")
    _save(fig, path)


@kind
def plot_ner_baseline_curves(records: list, path: Path) -> None:
    """Dev F1 after each epoch of every baseline: ``records`` is ``[(name, f1 per epoch)]``."""
    fig, ax = _figure((7, 4.2))
    for n, (name, f1) in enumerate(records):
        ax.plot(range(1, len(f1) + 1), f1, marker="." if len(f1) < 30 else None, lw=1.2,
                color=f"C{n % 10}", ls="-" if "lstm" in name.split(".")[-1] else "--",
                label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev entity F1 (%)")
    ax.set_title("NCRF++ baselines on CoNLL-2003: dev F1 per epoch (the protocol has 100)",
                 fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    _save(fig, path)


# ----------------------------------------------------------------------------- pages
@kind
def text(path: Path, text: str) -> None:
    """A text file beside the report (a model card)."""
    with atomic_write(path, path.suffix + ".tmp") as tmp:
        tmp.write_text(text)


@kind
def viewer(path: Path, **page) -> None:
    """The unit viewer's HTML page (:func:`neuron_repro.viewer.write_viewer`)."""
    from neuron_repro.viewer import write_viewer

    write_viewer(path, **page)

"""neuron-repro: published claims about interpretable units in recurrent networks, declared as
data (:mod:`neuron_repro.claims`), measured by one harness (:mod:`neuron_repro.experiments`)
and judged into reproduction reports (:mod:`neuron_repro.report`)."""

from importlib import metadata

try:
    __version__ = metadata.version("neuron-repro")
except metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"

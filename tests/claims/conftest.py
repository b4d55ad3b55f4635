import pytest

from neuron_repro.claims import REGISTRY, SOURCES
from neuron_repro.repro import make_context
from neuron_repro.runner import Reproduction


def context_options(opt) -> dict:
    """What the claim check runs on. With no model, data or profile named it is always the
    fixtures profile, whatever the user's data root holds: an empty folder left there by a
    failed download must not turn the planted checks into a run on nothing."""
    named = opt("--model") or opt("--data-dir") or opt("--profile")
    return {"profile": opt("--profile") if named else "fixtures",
            "model_spec": opt("--model"), "data_dir": opt("--data-dir")}


@pytest.fixture(scope="session")
def reproduction(request, tmp_path_factory):
    """One run shared by every claim test; the report is written when the session ends."""
    opt = request.config.getoption
    out = opt("--report-dir") or tmp_path_factory.mktemp("report")
    ctx = make_context(**context_options(opt), out_dir=out, progress=False)
    run = Reproduction(ctx, REGISTRY, SOURCES)
    yield run
    run.write()

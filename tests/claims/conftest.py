import pytest

from neuron_repro.claims import REGISTRY, SOURCES
from neuron_repro.repro import make_context
from neuron_repro.runner import Reproduction


@pytest.fixture(scope="session")
def reproduction(request, tmp_path_factory):
    """One run shared by every claim test; the report is written when the session ends."""
    opt = request.config.getoption
    out = opt("--report-dir") or tmp_path_factory.mktemp("report")
    ctx = make_context(profile=opt("--profile"), model_spec=opt("--model"),
                       data_dir=opt("--data-dir"), out_dir=out, progress=False)
    run = Reproduction(ctx, REGISTRY, SOURCES)
    yield run
    run.write()

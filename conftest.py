"""Test tiers and the options of the claim check (``tests/claims/test_claims.py``).

Unmarked tests are the CPU smoke tier and always run. ``full`` tests need real data or long
runs and ``gpu`` tests need CUDA; both are skipped with a stated reason unless asked for.
"""

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("neuron-repro")
    group.addoption("--full", action="store_true", help="run tests marked full (real data)")
    group.addoption("--full-data", default=None,
                    help="full tier: the data root holding the real datasets")
    group.addoption("--gpu", action="store_true", help="run tests marked gpu")
    group.addoption("--require-gpu", action="store_true",
                    help="fail, instead of skipping, when a gpu test finds no CUDA")
    group.addoption("--profile", default=None, help="claim check: report profile name")
    group.addoption("--model", default=None, help="claim check: model spec (default: fixtures)")
    group.addoption("--data-dir", default=None, help="claim check: data root")
    group.addoption("--report-dir", default=None,
                    help="claim check: where to write the report (default: a temporary folder)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "full" in item.keywords and not config.getoption("--full"):
            item.add_marker(pytest.mark.skip(reason="needs real data or a long run: use --full"))
        if "gpu" in item.keywords and not (
            config.getoption("--gpu") or config.getoption("--require-gpu")
        ):
            # With --require-gpu the test runs and fails on a machine without CUDA.
            item.add_marker(pytest.mark.skip(reason="needs CUDA: use --gpu"))

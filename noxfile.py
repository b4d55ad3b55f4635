"""Sessions: ``nox -s tests`` (default), ``nox -s reproduce``, ``nox -s bench``, ``nox -s docs``,
``nox -s lint``.

``nox -l`` lists them with these docstrings.
"""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

# The suite is tested on torch 2.13.0. Where its CPU wheel is at hand (a local wheelhouse or
# index), pinning it avoids pulling a multi-GB CUDA build; elsewhere pip resolves the range
# declared in pyproject.toml.
TORCH_PIN = "torch==2.13.0"


def install(session, extras="dev,ner"):
    try:
        session.install(TORCH_PIN, silent=True)
    except nox.command.CommandFailed:
        session.log(f"{TORCH_PIN} is not available here; installing torch from pyproject's range")
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session):
    """The CPU test suite: unit tests and the claim check on the bundled fixtures, one worker
    process per core (each file's tests in one worker, one torch thread each)."""
    install(session)
    session.run("pytest", "-n", "auto", "--dist", "loadfile", "--durations=10",
                *session.posargs, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


@nox.session
def reproduce(session):
    """Run every claim and write reports/<profile>/ (fixtures when no model or data is found).

    Pass options after --, e.g. ``nox -s reproduce -- --data-dir D --model M --profile P``.
    """
    install(session)
    session.run("neuron-repro", "reproduce", *session.posargs)


@nox.session
def bench(session):
    """Speed benchmarks (ratios to the machine's own matmul rate, measured in the same run)."""
    install(session)
    session.run("pytest", "benchmarks", "--benchmark-enable", "-s", *session.posargs)


@nox.session
def docs(session):
    """Build the documentation (mkdocs, strict: a broken link or anchor fails) after
    regenerating the claim registry in docs/claims.md from the declarations."""
    install(session, extras="docs")
    session.run("neuron-repro", "claims", "--report", "reports/cpu-ref/results.json",
                "reports/word-lstm-ref/results.json", "--readme", "README.md", "docs/claims.md")
    # the generated tables must be committed as generated: a difference fails here
    session.run("git", "diff", "--exit-code", "--stat", "README.md", "docs/claims.md",
                external=True)
    session.run("mkdocs", "build", "--strict")


@nox.session
def lint(session):
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")

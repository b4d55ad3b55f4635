"""Where this checkout keeps what the package reads from it: the bundled fixtures."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO_ROOT / "fixtures" / "data"

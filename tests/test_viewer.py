"""The unit viewer: a self-contained page whose texts stay text, checked in a real browser
where Chromium is installed."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from neuron_repro.cli import main
from neuron_repro.models.planted import planted_mlstm
from neuron_repro.traces import characters
from neuron_repro.viewer import build_viewer, viewer_page

TEXTS = ["<script>alert(1)</script> fine :)", "café – awful :(", "plain"]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.fixture(scope="module")
def model():
    return planted_mlstm(n_units=32, unit=7, polarity=-1)


def _data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def test_texts_stay_text_and_the_page_needs_nothing_else(model):
    page = build_viewer(model, TEXTS, [7, 3], title="<b>t</b>", labels=[1, 0, None])
    data = _data(page)
    assert "<script>alert" not in page and page.count("</script>") == 2
    assert "&lt;b&gt;t&lt;/b&gt;" in page
    assert not re.search(r"https?://|src=", page)
    assert "".join(data["texts"][0]["c"]) == "\n " + TEXTS[0] + " "
    assert data["texts"][2]["label"] is None and data["units"] == [7, 3]


def test_one_entry_per_character_with_the_state_after_its_last_byte():
    data = "é!".encode()  # 2 bytes, then 1
    page = viewer_page([data], [np.array([[0.1], [0.2], [0.3]])], [5], title="t")
    data = _data(page)
    row = data["texts"][0]
    assert row["c"] == "é!"
    assert list(_values(data, 0, 0)) == pytest.approx([0.2, 0.3], abs=0.3 / 32767)


def _values(data: dict, text: int, k: int) -> np.ndarray:
    """Unit ``k``'s values over a text, decoded as the page's script does."""
    levels = np.frombuffer(base64.b64decode(data["texts"][text]["v"][k]), dtype="<i2")
    return levels * data["limits"][k] / 32767


def test_the_stored_values_are_the_trace_to_a_step_of_its_largest_value():
    rng = np.random.default_rng(0)
    traces = [rng.normal(size=(n, 2)) * [1.0, 1e-3] for n in (5, 40)]
    data = _data(viewer_page([b"x" * 5, b"y" * 40], traces, [3, 4], title="t"))
    for k in range(2):
        limit = max(np.abs(t[:, k]).max() for t in traces)
        for i, trace in enumerate(traces):
            got = _values(data, i, k)
            assert np.abs(got - trace[:, k]).max() <= limit / 32767 / 2 + 1e-15


@pytest.mark.parametrize("kwargs, match", [
    (dict(traces=[np.zeros((3, 2))]), "shape"),
    (dict(traces=[np.full((2, 1), np.nan)]), "not finite"),
    (dict(labels=[1, 0]), "2 labels for 1 texts"),
])
def test_bad_input_is_refused(kwargs, match):
    args = {**dict(texts=[b"ab"], traces=[np.zeros((2, 1))], units=[0], title="t"), **kwargs}
    with pytest.raises(ValueError, match=match):
        viewer_page(**args)


def test_cli_errors_exit_2(tmp_path, capsys):
    out = str(tmp_path / "p.html")
    (tmp_path / "in.txt").write_text("a :)\nb :(\n")
    assert main(["view", "--model", "planted", "--input", str(tmp_path / "no.txt"),
                 "--units", "7", "--out", out]) == 2
    assert main(["view", "--model", "planted", "--input", str(tmp_path / "in.txt"),
                 "--units", "99", "--out", out]) == 2
    assert "outside 0..31" in capsys.readouterr().err
    assert main(["view", "--model", "planted", "--input", str(tmp_path / "in.txt"),
                 "--units", "x", "--out", out]) == 2
    with pytest.raises(SystemExit):  # neither --units nor --probe-json
        main(["view", "--model", "planted", "--input", str(tmp_path / "in.txt"), "--out", out])
    assert main(["view", "--model", "planted", "--input", str(tmp_path / "in.txt"),
                 "--units", "7,2", "--out", out]) == 0
    assert len(_data((tmp_path / "p.html").read_text())["texts"]) == 2


def _browser(*args):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install "
                    "chromium); the page is checked in a browser only where one is")
def test_the_page_in_a_real_browser(model, tmp_path):
    path = tmp_path / "page.html"
    path.write_text(build_viewer(model, TEXTS, [7, 3], title="viewer", labels=[1, 0, 1]))
    dumps = {}
    for k in (0, 1):
        done = _browser("--virtual-time-budget=5000", "--dump-dom", f"file://{path}#unit={k}")
        assert done.returncode == 0, done.stderr[-500:]
        dumps[k] = done.stdout
    first = dumps[0].split('<div class="text">')[1].split("</div>", 2)[1]
    spans = re.findall(r'<span style="background: (rgb\([^)]*\));?">', first)
    n_chars = len(characters(("\n " + TEXTS[0] + " ").encode()))
    assert len(spans) == n_chars
    other = re.findall(r'<span style="background: (rgb\([^)]*\));?">',
                       dumps[1].split('<div class="text">')[1].split("</div>", 2)[1])
    assert len(other) == n_chars and other != spans  # another unit, other colours
    assert "<script>alert" not in dumps[0] and "&lt;" in first  # shown as text, never run
    shot = tmp_path / "shot.png"
    done = _browser(f"--screenshot={shot}", "--window-size=1200,900", f"file://{path}")
    assert done.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

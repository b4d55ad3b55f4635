"""``neuron-repro fetch`` against a local HTTP server: verified files, resumed downloads,
servers without Range, corrupted bytes, unsafe archives, no second request, and no network."""

import gzip
import hashlib
import io
import json
import socket
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from neuron_repro import fetch as F
from neuron_repro.cli import main
from neuron_repro.data.csv_splits import SST_FILES
from neuron_repro.models.mlstm import OPENAI_RELEASE_BLOBS, git_blob_id
from neuron_repro.repro import make_context
from tests.helpers import Server, write_openai_weights


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A .tar.gz of ``members`` (the same bytes every time: gzip's time stamp fixed)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return gzip.compress(buffer.getvalue(), mtime=0)


def _zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return buffer.getvalue()


LINES_POS, LINES_NEG = b"good film\nfine acting\n", b"dull\nslow plot\nno caf\xe9\n"
REVIEWS = {"train/pos": 2, "train/neg": 2, "test/pos": 1, "test/neg": 1, "train/unsup": 1}


def _imdb(counts=REVIEWS) -> bytes:
    members, n = {}, 0
    for folder, count in counts.items():
        for _ in range(count):
            n += 1
            members[f"aclImdb/{folder}/{n}_{0 if 'unsup' in folder else 8}.txt"] = b"a review"
    return _tar(members)


@pytest.fixture
def table(server, tmp_path):
    """A source table shaped like the real one, served by the local server."""
    weights = tmp_path / "release"
    write_openai_weights(weights, n_units=4, n_embed=2)
    blobs = {i: git_blob_id(weights / f"{i}.npy") for i in range(15)}
    sst = {f: f"{f} rows\n".encode() * 3 for f in ("train.csv", "dev.csv", "test.csv")}
    sources = {
        "openai-weights": F.Source(
            "openai-weights", "weights", "local",
            tuple(F.Download(server.add(f"/model/{i}.npy", (weights / f"{i}.npy").read_bytes()),
                             f"{i}.npy", git_blob=b) for i, b in blobs.items()), model=True),
        "sst": F.Source("sst", "csv", "local", tuple(
            F.Download(server.add(f"/sst/{f}", d), f"sst/{f}",
                       sha256=hashlib.sha256(d).hexdigest()) for f, d in sst.items())),
        "mr": F.Source("mr", "tar.gz", "local", (F.Download(
            server.add("/rt.tar.gz", _tar({"rt/rt-polarity.pos": LINES_POS,
                                           "rt/rt-polarity.neg": LINES_NEG})),
            "downloads/rt.tar.gz"),),
            (F.Member("rt/rt-polarity.pos", "mr/rt-polarity.pos", 2),
             F.Member("rt/rt-polarity.neg", "mr/rt-polarity.neg", 3))),
        "cr": F.Source("cr", "zip", "local", (F.Download(
            server.add("/nb.zip", _zip({"data/customerr/custrev.pos": LINES_POS,
                                        "data/customerr/custrev.neg": LINES_NEG})),
            "downloads/nb.zip"),),
            (F.Member("data/customerr/custrev.pos", "cr/custrev.pos", 2, to_utf8=True),
             F.Member("data/customerr/custrev.neg", "cr/custrev.neg", 3, to_utf8=True))),
        "imdb": F.Source("imdb", "tar.gz", "local", (F.Download(
            server.add("/aclImdb_v1.tar.gz", _imdb()), "imdb/aclImdb_v1.tar.gz"),),
            reviews=REVIEWS),
    }
    return sources


def _fetch(table, names, root, **kwargs):
    return F.fetch(F.select(names, table), data_dir=root, progress=False, **kwargs)


def test_a_full_fetch_puts_every_file_in_place_verified_and_a_second_makes_no_request(
        server, table, tmp_path, monkeypatch):
    root = tmp_path / "data"
    done = _fetch(table, ["all"], root)
    assert [d.name for d in done] == list(table) and all(d.requested for d in done)
    release = root / "models" / "openai"
    for i in range(15):
        assert (release / f"{i}.npy").read_bytes() == server.files[f"/model/{i}.npy"]
    assert (root / "mr" / "rt-polarity.neg").read_bytes() == LINES_NEG  # as released
    assert (root / "cr" / "custrev.neg").read_bytes() == LINES_NEG.decode("cp1252").encode()
    assert (root / "imdb" / "aclImdb_v1.tar.gz").read_bytes() == _imdb()
    record = json.loads((root / "fetched.json").read_text())
    assert record["imdb"]["files"]["imdb/aclImdb_v1.tar.gz"] == \
        hashlib.sha256(_imdb()).hexdigest()
    assert not [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp"))]
    before = len(server.requests)
    again = _fetch(table, ["all"], root)
    assert len(server.requests) == before and all(d.requested == 0 for d in again)
    # --model openai is the fetched release, its blob ids checked
    monkeypatch.setattr(F, "SOURCES", table)
    ctx = make_context(model_spec="openai", data_dir=root, out_dir=tmp_path / "out",
                       cache_dir=tmp_path / "cache")
    assert ctx.model_spec == f"openai:{release}" and ctx.model.n_units == 4
    assert ctx.has_release is False  # a 4-unit test release is not OpenAI's


def test_model_openai_without_a_verified_release_says_how_to_fetch_it(table, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(F, "SOURCES", table)
    root = tmp_path / "data"
    root.mkdir()
    assert main(["reproduce", "--model", "openai", "--data-dir", str(root), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 2
    assert "neuron-repro fetch openai-weights" in capsys.readouterr().err
    _fetch(table, ["openai-weights"], root)
    (root / "models" / "openai" / "3.npy").write_bytes(b"not the release")
    assert main(["reproduce", "--model", "openai", "--data-dir", str(root), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 2
    assert "3.npy" in capsys.readouterr().err


def test_a_download_cut_off_mid_way_resumes_where_it_stopped(server, table, tmp_path):
    path = "/aclImdb_v1.tar.gz"
    half = len(server.files[path]) // 2
    server.cut[path] = half
    (done,) = _fetch(table, ["imdb"], tmp_path)
    assert done.requested == 2 and server.asked(path) == [None, f"bytes={half}-"]
    assert (tmp_path / "imdb" / "aclImdb_v1.tar.gz").read_bytes() == server.files[path]


def test_a_part_left_by_an_interrupted_fetch_is_resumed(server, table, tmp_path):
    path = "/sst/test.csv"
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / ".test.csv.part").write_bytes(server.files[path][:5])
    _fetch(table, ["sst"], tmp_path)
    assert server.asked(path) == ["bytes=5-"]
    assert (tmp_path / "sst" / "test.csv").read_bytes() == server.files[path]


def test_a_server_without_range_support_sends_the_whole_file_again(server, table, tmp_path):
    server.ranges = False
    path = "/sst/dev.csv"
    (tmp_path / "sst").mkdir()
    (tmp_path / "sst" / ".dev.csv.part").write_bytes(server.files[path][:7])
    _fetch(table, ["sst"], tmp_path)
    assert server.asked(path) == ["bytes=7-"]  # asked, ignored, answered whole
    assert (tmp_path / "sst" / "dev.csv").read_bytes() == server.files[path]


@pytest.mark.parametrize("name,path,kind", [("sst", "/sst/train.csv", "sha256"),
                                            ("openai-weights", "/model/13.npy", "git blob id")])
def test_a_corrupted_byte_is_a_mismatch_and_leaves_no_file(server, table, tmp_path, name,
                                                           path, kind):
    data = bytearray(server.files[path])
    data[len(data) // 2] ^= 0xFF
    server.files[path] = bytes(data)
    with pytest.raises(F.FetchError, match=f"its {kind} is [0-9a-f]+, expected [0-9a-f]+") \
            as error:
        _fetch(table, [name], tmp_path / "data")
    dest = Path(PurePosixPath(path).name)
    assert str(dest) in str(error.value)
    left = [p.name for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert not [n for n in left if n.startswith((dest.name, f".{dest.name}"))]


@pytest.mark.parametrize("build", [
    lambda: _tar({"rt/rt-polarity.pos": LINES_POS, "rt/rt-polarity.neg": LINES_NEG,
                  "../evil": b"x"}),
    lambda: _tar({"rt/rt-polarity.pos": LINES_POS, "rt/rt-polarity.neg": LINES_NEG},
                 links={"rt/escape": "/etc/passwd"}),
    lambda: _zip({"rt/rt-polarity.pos": LINES_POS, "rt/rt-polarity.neg": LINES_NEG,
                  "../evil": b"x"}),
    lambda: _zip({"rt/rt-polarity.pos": LINES_POS, "rt/rt-polarity.neg": LINES_NEG},
                 links={"rt/escape": "/etc/passwd"}),
], ids=["tar-dotdot", "tar-symlink", "zip-dotdot", "zip-symlink"])
def test_an_archive_with_an_unsafe_member_is_refused(server, table, tmp_path, build):
    server.files["/rt.tar.gz"] = build()
    with pytest.raises(F.FetchError, match="unsafe member"):
        _fetch(table, ["mr"], tmp_path / "data")
    assert not (tmp_path / "data" / "mr").exists() and not (tmp_path / "evil").exists()
    assert not (tmp_path / "data" / "downloads" / "rt.tar.gz").exists()


def test_wrong_line_counts_or_review_counts_are_refused(server, table, tmp_path):
    server.files["/rt.tar.gz"] = _tar({"rt/rt-polarity.pos": LINES_POS + b"extra\n",
                                       "rt/rt-polarity.neg": LINES_NEG})
    with pytest.raises(F.FetchError, match="3 lines, the release has 2"):
        _fetch(table, ["mr"], tmp_path)
    server.files["/aclImdb_v1.tar.gz"] = _imdb({**REVIEWS, "test/neg": 0})
    with pytest.raises(F.FetchError, match=r"test/neg 0 \(expected 1\)"):
        _fetch(table, ["imdb"], tmp_path)
    assert not (tmp_path / "mr").exists() and not (tmp_path / "imdb" / "aclImdb_v1.tar.gz"
                                                   ).exists()


def test_files_put_in_place_by_hand_are_verified_without_a_request(server, table, tmp_path):
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "aclImdb_v1.tar.gz").write_bytes(_imdb())
    (done,) = _fetch(table, ["imdb"], tmp_path)
    assert done.requested == 0 and not server.requests
    assert json.loads((tmp_path / "fetched.json").read_text())["imdb"]["files"] == \
        {"imdb/aclImdb_v1.tar.gz": hashlib.sha256(_imdb()).hexdigest()}


def test_without_a_network_fetch_names_the_url_and_where_to_put_the_file(table, tmp_path,
                                                                         monkeypatch, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/sst/train.csv"
    offline = {"sst": F.Source("sst", "csv", "nowhere", (F.Download(url, "sst/train.csv",
                                                                    sha256="0" * 64),))}
    monkeypatch.setattr(F, "SOURCES", offline)
    assert main(["fetch", "sst", "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert url in err and str(tmp_path / "sst" / "train.csv") in err and "Traceback" not in err
    assert main(["fetch", "nothing", "--data-dir", str(tmp_path)]) == 2
    assert "fetch knows sst" in capsys.readouterr().err


def test_the_real_table_has_the_release_pins_and_safe_destinations(capsys):
    weights = F.SOURCES["openai-weights"]
    assert {d.dest: d.git_blob for d in weights.downloads} == \
        {f"{i}.npy": b for i, b in OPENAI_RELEASE_BLOBS.items()}
    assert [d.sha256 for d in F.SOURCES["sst"].downloads] == [s for _, s in SST_FILES.values()]
    for source in F.SOURCES.values():
        assert source.downloads and source.what and source.home
        for item in source.downloads:
            assert item.url.startswith("https://")
        for dest in [*source.finals(), *(d.dest for d in source.downloads)]:
            assert not PurePosixPath(dest).is_absolute() and ".." not in PurePosixPath(dest).parts
        assert bool(source.members) + bool(source.reviews) <= 1
    assert set(F.SOURCES) == {"openai-weights", "sst", "mr", "cr", "subj", "mpqa", "imdb"}
    assert main(["fetch", "--list"]) == 0
    assert "openai-weights" in capsys.readouterr().out


def test_a_server_that_sends_almost_nothing_is_given_up(server, table, tmp_path, monkeypatch):
    """Kept alive but trickling a byte at a time, it never times out a read: the rate is what
    ends it, three tries, then a FetchError that keeps the part for the next fetch."""
    monkeypatch.setattr(F, "STALL_SECONDS", 0.3)
    monkeypatch.setattr(F, "MIN_BYTES_PER_SECOND", 1000)
    path = "/aclImdb_v1.tar.gz"
    server.trickle[path] = 0.02
    started = time.monotonic()
    with pytest.raises(F.FetchError, match="under 1000 bytes/s, 3 times"):
        _fetch(table, ["imdb"], tmp_path)
    assert time.monotonic() - started < 30
    assert len(server.asked(path)) == 3
    part = tmp_path / "imdb" / ".aclImdb_v1.tar.gz.part"
    assert 0 < part.stat().st_size < len(server.files[path])


def _pinned(table):
    """The table's mr with each member pinned to the sha256 of the served file."""
    mr = table["mr"]
    members = tuple(F.Member(m.inside, m.dest, m.lines, sha256=hashlib.sha256(data).hexdigest())
                    for m, data in zip(mr.members, (LINES_POS, LINES_NEG), strict=True))
    return {**table, "mr": F.Source(mr.name, mr.what, mr.home, mr.downloads, members)}


def test_a_pinned_file_placed_by_hand_passes_only_by_its_pin(server, table, tmp_path):
    table = _pinned(table)
    (tmp_path / "mr").mkdir()
    # the right number of lines, the same garbage in both files
    for name, lines in (("rt-polarity.pos", 2), ("rt-polarity.neg", 3)):
        (tmp_path / "mr" / name).write_bytes(b"garbage\n" * lines)
    (done,) = _fetch(table, ["mr"], tmp_path)
    assert done.requested == 1 and "pinned sha256" in done.verified
    assert (tmp_path / "mr" / "rt-polarity.pos").read_bytes() == LINES_POS
    (again,) = _fetch(table, ["mr"], tmp_path)  # the release's own bytes: no request
    assert again.requested == 0


def test_an_archive_whose_member_has_the_lines_but_not_the_bytes_is_refused(server, table,
                                                                             tmp_path):
    table = _pinned(table)
    server.files["/rt.tar.gz"] = _tar({"rt/rt-polarity.pos": b"bad\nfilm\n",
                                       "rt/rt-polarity.neg": LINES_NEG})
    with pytest.raises(F.FetchError, match="rt/rt-polarity.pos: its sha256 is"):
        _fetch(table, ["mr"], tmp_path)
    assert not (tmp_path / "mr").exists()


@pytest.mark.parametrize("build", [_tar, _zip], ids=["tar", "zip"])
def test_a_member_larger_than_any_release_file_is_refused_before_it_is_read(
        server, table, tmp_path, monkeypatch, build):
    monkeypatch.setattr(F, "MAX_MEMBER_BYTES", 64)
    server.files["/rt.tar.gz"] = build({"rt/rt-polarity.pos": b"x\n" * 1000,
                                        "rt/rt-polarity.neg": LINES_NEG})
    with pytest.raises(F.FetchError, match="rt/rt-polarity.pos is 2,000 bytes"):
        _fetch(table, ["mr"], tmp_path)
    assert not (tmp_path / "mr").exists()


def test_a_member_longer_than_its_header_says_is_read_no_further_than_the_cap(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(F, "MAX_MEMBER_BYTES", 64)
    with pytest.raises(F.FetchError, match="is 65 bytes"):
        F._read_capped(io.BytesIO(b"y" * 10_000), tmp_path / "a.zip", "member")


def test_the_real_mr_and_subj_members_are_pinned():
    for name in ("mr", "subj"):
        assert all(F._SHA256.fullmatch(m.sha256 or "") for m in F.SOURCES[name].members)

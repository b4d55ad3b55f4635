"""Fetching what a real reproduction needs: OpenAI's released weights and the public datasets,
each verified before it is put in place.

Every source is one row of :data:`SOURCES` (the only place that names the real URLs). A file
is downloaded to ``.<name>.part`` beside its destination, resumed with an HTTP Range request
when a part is there and the server honours it (else started again), verified (git blob id,
pinned sha256, or the contents: line counts, review counts) and only then renamed into place.
Files taken from an archive are read from it (never extracted by the archive's own paths),
after every member of the archive has passed tarfile's ``data`` filter or the same rules for
a zip. ``fetched.json`` in the data root records what was fetched, from where, with each
file's sha256: a source whose files are all there and verified is not requested again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from neuron_repro.cache import sha256_file
from neuron_repro.data import csv_splits
from neuron_repro.data.base import DatasetError, default_data_root, resolve_data_root
from neuron_repro.data.csv_splits import SST_FILES, SST_HOME
from neuron_repro.data.imdb import IMDB_URL
from neuron_repro.io import CorruptFileError, atomic_write, read_json_object, write_json
from neuron_repro.models.mlstm import OPENAI_RELEASE_BLOBS, git_blob_id

RECORD = "fetched.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
MODEL_FOLDER = Path("models") / "openai"  # the released weights, under the data root
TIMEOUT = 60  # seconds without a byte before a download is given up
BLOCK = 1 << 16
# A server that keeps a connection alive but sends almost nothing: below this rate, averaged
# over a download that has run for STALL_SECONDS, the transfer is cut off (the part is kept
# for the next try), so that fetch always ends.
MIN_BYTES_PER_SECOND = 1024
STALL_SECONDS = 120


class FetchError(DatasetError):
    """A download, a check or an archive failed; the message says what to do."""


@dataclass(frozen=True)
class Download:
    """One file to download: ``dest`` is relative to the data root (or, for the weights, the
    model folder). It is verified by ``git_blob`` or ``sha256`` when given; otherwise by what
    its source checks of its contents, and its sha256 is recorded."""

    url: str
    dest: str
    sha256: str | None = None
    git_blob: str | None = None


@dataclass(frozen=True)
class Member:
    """A file taken from an archive: its path inside, where it goes, how many lines it has
    (``\\n``-separated, empty ones included), whether bytes that are not UTF-8 are taken as
    Windows-1252 and written as UTF-8 (what the loader of that dataset reads), and, where it
    is pinned, the sha256 of the file as written: a pinned file passes only by its pin, so a
    file placed by hand with the right number of lines but other contents is refused."""

    inside: str
    dest: str
    lines: int
    to_utf8: bool = False
    sha256: str | None = None


# No member of the archives is larger than this; a bigger one is refused before it is read.
MAX_MEMBER_BYTES = 16 << 20


@dataclass(frozen=True)
class Source:
    """What ``fetch NAME`` gets. ``members`` are read from the first download (an archive);
    ``reviews`` are the aclImdb folders with their review counts, checked inside the archive,
    which is kept as it is (the loader reads the tar.gz)."""

    name: str
    what: str
    home: str
    downloads: tuple[Download, ...]
    members: tuple[Member, ...] = ()
    reviews: dict[str, int] = field(default_factory=dict)
    model: bool = False  # goes into the model folder, not the data root

    def finals(self) -> list[str]:
        """The files a complete fetch leaves in place (relative to its folder)."""
        if self.members:
            return [m.dest for m in self.members]
        return [d.dest for d in self.downloads]


_CORNELL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/"
_NBSVM = "https://dl.fbaipublicfiles.com/senteval/senteval_data/datasmall_NB_ACL12.zip"
_WEIGHTS = "https://github.com/openai/generating-reviews-discovering-sentiment/raw/master/model/"

SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("openai-weights", "OpenAI's released 4096-unit mLSTM (15 .npy files, about 400 MB), "
           "each file checked against its git blob id",
           "https://github.com/openai/generating-reviews-discovering-sentiment (folder model/)",
           tuple(Download(f"{_WEIGHTS}{i}.npy", f"{i}.npy", git_blob=blob)
                 for i, blob in OPENAI_RELEASE_BLOBS.items()), model=True),
    Source("sst", "Stanford Sentiment Treebank, binary, sentence level: OpenAI's three csv "
           "files (pinned sha256)", SST_HOME,
           tuple(Download(SST_HOME + f, f"sst/{f}", sha256=sha) for f, sha in
                 SST_FILES.values())),
    Source("mr", "Movie Review sentence polarity v1.0 (rt-polaritydata.tar.gz): 5331 + 5331 "
           "lines, Windows-1252 bytes kept as released", _CORNELL,
           (Download(_CORNELL + "rt-polaritydata.tar.gz", "downloads/rt-polaritydata.tar.gz"),),
           # the members' bytes as released (a copy whose cp1252 -> UTF-8 transcoding is
           # byte-identical to a second, independent copy of the release)
           (Member("rt-polaritydata/rt-polarity.pos", "mr/rt-polarity.pos", 5331, sha256=(
               "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4")),
            Member("rt-polaritydata/rt-polarity.neg", "mr/rt-polarity.neg", 5331, sha256=(
                "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc")))),
    Source("subj", "Subjectivity v1.0 (rotten_imdb.tar.gz): quote.tok.gt9.5000 as subjective "
           "and plot.tok.gt9.5000 as objective, 5000 lines each, written as UTF-8", _CORNELL,
           (Download(_CORNELL + "rotten_imdb.tar.gz", "downloads/rotten_imdb.tar.gz"),),
           # the sha256 of SentEval's SUBJ files (ASCII only, so the UTF-8 step keeps their
           # bytes), which SentEval takes from this archive by renaming its two members; a
           # release whose members differ from them fails here, loudly, with both values
           (Member("quote.tok.gt9.5000", "senteval/SUBJ/subj.subjective", 5000, to_utf8=True,
                   sha256="274c2ffe59c204dc4df779848561786f59a98cc20dda3cfdd7d9f76a4f730710"),
            Member("plot.tok.gt9.5000", "senteval/SUBJ/subj.objective", 5000, to_utf8=True,
                   sha256="d8ccd43f1674f1c17e4ab717564e3561cfb719b0db4cfb19e5677427c68ff8a1"))),
    Source("cr", "Customer Reviews, sentence level, from the NBSVM release SentEval downloads "
           "(datasmall_NB_ACL12.zip): 2407 + 1368 lines", _NBSVM,
           (Download(_NBSVM, "downloads/datasmall_NB_ACL12.zip"),),
           (Member("data/customerr/custrev.pos", "cr/custrev.pos", 2407, to_utf8=True),
            Member("data/customerr/custrev.neg", "cr/custrev.neg", 1368, to_utf8=True))),
    Source("mpqa", "MPQA opinion polarity, from the same NBSVM release: 3312 + 7294 lines",
           _NBSVM, (Download(_NBSVM, "downloads/datasmall_NB_ACL12.zip"),),
           (Member("data/mpqa/mpqa.pos", "senteval/MPQA/mpqa.pos", 3312, to_utf8=True),
            Member("data/mpqa/mpqa.neg", "senteval/MPQA/mpqa.neg", 7294, to_utf8=True))),
    Source("imdb", "Large Movie Review Dataset v1.0 (aclImdb_v1.tar.gz, about 84 MB): its "
           "review counts checked, its sha256 recorded", "https://ai.stanford.edu/~amaas/data/"
           "sentiment/", (Download(IMDB_URL, "imdb/aclImdb_v1.tar.gz"),),
           reviews={"train/pos": 12500, "train/neg": 12500, "test/pos": 12500,
                    "test/neg": 12500, "train/unsup": 50000}),
)}


@dataclass
class Fetched:
    """What ``fetch`` did for one source."""

    name: str
    folder: Path
    files: dict[str, str]  # destination (relative) -> sha256
    requested: int  # HTTP requests made (0: everything was there and verified)
    verified: str  # how the files were checked


def select(names: Sequence[str], sources: dict[str, Source] | None = None) -> list[Source]:
    """The sources named (``all`` for every one), in table order; an unknown name is an error
    that lists the known ones."""
    sources = SOURCES if sources is None else sources
    wanted = list(sources) if "all" in names else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in sources]
    if unknown:
        raise FetchError(f"unknown source {', '.join(unknown)}: fetch knows "
                         f"{', '.join(sources)} (or all); `neuron-repro fetch --list` says "
                         "what each one is")
    return [sources[n] for n in wanted]


def model_folder(data_dir: str | os.PathLike | None = None) -> Path:
    """Where ``fetch openai-weights`` puts the release and ``--model openai`` reads it."""
    return resolve_data_root(data_dir) / MODEL_FOLDER


def fetch(sources: Sequence[Source], data_dir: str | os.PathLike | None = None,
          model_dir: str | os.PathLike | None = None, progress: bool = True,
          opener: Callable | None = None) -> list[Fetched]:
    """Fetch each source into the data root (the weights into the model folder); a source
    already there and verified makes no request."""
    root = resolve_data_root(data_dir)
    models = Path(model_dir) if model_dir else root / MODEL_FOLDER
    record = _read_record(root)
    done = []
    for source in sources:
        folder = models if source.model else root
        result = _fetch_one(source, folder, record.get(source.name), progress, opener)
        record[source.name] = {
            "folder": str(folder), "files": result.files, "verified": result.verified,
            "urls": [d.url for d in source.downloads],
            "at": datetime.now(UTC).isoformat(timespec="seconds")}
        write_json(root / RECORD, record, sort_keys=True)
        done.append(result)
    return done


def fetch_record(data_dir: str | os.PathLike | None = None) -> dict:
    """What ``fetched.json`` of the data root says (empty when there is none)."""
    return _read_record(resolve_data_root(data_dir))


def _read_record(root: Path) -> dict:
    path = root / RECORD
    if not path.exists():
        return {}
    try:
        record = read_json_object(path, what="fetch record")
        for name, entry in record.items():
            files = entry.get("files") if isinstance(entry, dict) else None
            if not isinstance(files, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
                    for k, v in files.items()):
                raise CorruptFileError(f"{path}: {name}.files is not a map of file names to "
                                       "sha256 values")
    except CorruptFileError as exc:
        raise FetchError(f"{exc}; delete it and fetch again (every file is verified again)") \
            from exc
    return record


# ----------------------------------------------------------------------------- one source


def _fetch_one(source: Source, folder: Path, recorded: dict | None, progress: bool,
               opener: Callable) -> Fetched:
    known = (recorded or {}).get("files", {}) if isinstance(recorded, dict) else {}
    present = _verified_in_place(source, folder, known)
    if present is not None:
        return Fetched(source.name, folder, present, 0, _how(source))
    requests = 0
    if source.members:
        archive = source.downloads[0]
        path = folder / archive.dest
        if not path.is_file():  # (one archive may serve two sources: cr and mpqa)
            requests += download(archive, path, progress, opener,
                                 check=lambda p: _checked_members(source, p))
        files = _take_members(source, path, folder)
    else:
        files = {}
        check = (lambda p: check_reviews(p, source.reviews)) if source.reviews else None
        for item in source.downloads:
            path = folder / item.dest
            downloaded = not (path.is_file() and _pinned_ok(item, path))
            if downloaded:  # checked by download before it was put in place
                requests += download(item, path, progress, opener, check=check)
            digest = sha256_file(path)
            if check is not None and not downloaded and known.get(item.dest) != digest:
                check(path)  # there before, but not as recorded: by hand, or changed since
            files[item.dest] = digest
    return Fetched(source.name, folder, files, requests, _how(source))


def _how(source: Source) -> str:
    if any(d.git_blob for d in source.downloads):
        return "git blob id of every file"
    if source.members and all(m.sha256 for m in source.members):
        return "pinned sha256 of every file taken from the archive, whose members passed the " \
               "safe-extraction checks"
    if source.members:
        return "line counts of the files taken from the archive, whose members passed the " \
               "safe-extraction checks; sha256 recorded"
    if source.reviews:
        return "review counts per folder inside the archive; sha256 recorded"
    return "pinned sha256 of every file"


def _verified_in_place(source: Source, folder: Path, known: dict) -> dict | None:
    """The sha256 of each final file when every one is there and verified, else None.
    Pinned files are checked against their pins; the others against the sha256 recorded at
    their fetch, or, with no record (put there by hand), by their contents."""
    files = {}
    for dest in source.finals():
        path = folder / dest
        if not path.is_file():
            return None
        digest = sha256_file(path)
        item = next((d for d in source.downloads if d.dest == dest), None)
        if item is not None and (item.sha256 or item.git_blob):
            if not _pinned_ok(item, path, digest):
                return None
        elif (member := next((m for m in source.members if m.dest == dest), None)) and (
                member.sha256):
            if digest != member.sha256:  # by hand, or changed since: the pin decides
                return None
        elif known.get(dest) != digest:
            try:
                if source.reviews:
                    check_reviews(path, source.reviews)
                else:
                    if path.stat().st_size > MAX_MEMBER_BYTES:
                        return None
                    _check_lines(path.read_bytes(), member, path)
            except FetchError:
                return None
        files[dest] = digest
    return files


def _pinned_ok(item: Download, path: Path, digest: str | None = None) -> bool:
    if item.git_blob:
        return git_blob_id(path) == item.git_blob
    if item.sha256:
        return (digest or sha256_file(path)) == item.sha256
    return True  # checked by its contents


# ----------------------------------------------------------------------------- downloading


def download(item: Download, dest: Path, progress: bool = True,
             opener: Callable | None = None,
             check: Callable[[Path], None] | None = None) -> int:
    """Download ``item.url`` to ``dest``, resuming a part left by an interrupted download
    (and resuming up to :data:`RETRIES` times when the connection breaks); verified against
    its pin and by ``check`` (which raises :class:`FetchError`) before it is renamed into
    place. A file that fails is deleted; a resumed one that fails is fetched once more from
    the start. Returns the requests made."""
    part = dest.with_name(f".{dest.name}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    requests = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        fresh = have == 0
        for _ in range(RETRIES):
            requests += 1
            try:
                _transfer(item.url, part, have, progress, opener, dest)
                break
            except _CutOff as exc:
                have, broken = part.stat().st_size, exc
        else:
            raise _offline(item.url, dest, f"{broken}, {RETRIES} times; fetch again to "
                           "resume from the part kept")
        problem = _pin_problem(item, part)
        if problem is None and check is not None:
            try:
                check(part)
            except FetchError as exc:
                problem = str(exc)
        if problem is None:
            break
        part.unlink(missing_ok=True)
        if fresh:
            raise FetchError(f"{dest}: downloaded from {item.url}, {problem}; the download "
                             "was deleted. If a second fetch fails the same way, the file at "
                             "its public home has changed")
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    return requests


RETRIES = 3


class _CutOff(Exception):
    """The connection broke mid-way; the part written so far is kept."""


def _pin_problem(item: Download, path: Path) -> str | None:
    if item.git_blob and (got := git_blob_id(path)) != item.git_blob:
        return f"its git blob id is {got}, expected {item.git_blob}"
    if item.sha256 and (got := sha256_file(path)) != item.sha256:
        return f"its sha256 is {got}, expected {item.sha256}"
    return None


_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _transfer(url: str, part: Path, have: int, progress: bool, opener: Callable,
              dest: Path) -> None:
    """Append the rest of ``url`` to ``part`` (all of it when the server ignores Range)."""
    headers = {"User-Agent": "neuron-repro"}
    if have:
        headers["Range"] = f"bytes={have}-"
    opener = opener or urllib.request.urlopen  # looked up now, so that it can be replaced
    try:
        response = opener(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is whole
            return None
        raise _offline(url, dest, f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _offline(url, dest, getattr(exc, "reason", None) or exc) from exc
    with response:
        resumed = bool(have) and response.status == 206
        if resumed:
            match = _RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != have:
                response.close()  # not the range asked for: start again
                return _transfer(url, part, 0, progress, opener, dest)
        length = response.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length else None
        with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have if resumed else 0, unit="B", unit_scale=True,
                desc=dest.name, disable=not progress, leave=False) as bar:
            read = getattr(response, "read1", response.read)  # what has arrived, not BLOCK
            started, got = time.monotonic(), 0
            try:
                while block := read(BLOCK):
                    out.write(block)
                    bar.update(len(block))
                    got += len(block)
                    elapsed = time.monotonic() - started
                    if elapsed > STALL_SECONDS and got < MIN_BYTES_PER_SECOND * elapsed:
                        raise _CutOff(f"the server sent {got} bytes in {elapsed:.0f} s, under "
                                      f"{MIN_BYTES_PER_SECOND} bytes/s")
            except (OSError, http.client.HTTPException) as exc:
                raise _CutOff(f"the connection broke after {out.tell()} bytes "
                              f"({type(exc).__name__})") from exc
    if total is not None and part.stat().st_size < total:
        raise _CutOff(f"the connection ended after {part.stat().st_size} of {total} bytes")
    return None


def _offline(url: str, dest: Path, reason) -> FetchError:
    return FetchError(f"downloading {url} failed ({reason}). Without a network, download it "
                      f"elsewhere and put it at {dest} (`neuron-repro fetch` then verifies it), "
                      "or pass --data-dir (or set $NEURON_REPRO_DATA) to a data root that "
                      "holds it")


# ----------------------------------------------------------------------------- archives


def _safe_tar(tar: tarfile.TarFile, path: Path) -> None:
    """Every member must pass tarfile's ``data`` filter (no absolute paths, nothing outside
    the folder, no links out of it, no devices)."""
    for member in tar.getmembers():
        try:
            tarfile.data_filter(member, str(path.parent / ".check"))
        except tarfile.FilterError as exc:
            raise FetchError(f"{path}: refused, it holds an unsafe member {member.name!r} "
                             f"({exc}); nothing was taken from it. Delete it and fetch "
                             "again") from exc


def _safe_zip(archive: zipfile.ZipFile, path: Path) -> None:
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        mode = info.external_attr >> 16
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename or (
                stat.S_ISLNK(mode)):
            raise FetchError(f"{path}: refused, it holds an unsafe member {info.filename!r} "
                             "(an absolute path, a path out of the folder or a link); nothing "
                             "was taken from it. Delete it and fetch again")


def _read_members(path: Path, names: Sequence[str]) -> dict[str, bytes]:
    """The bytes of the named regular files of a .tar.gz or .zip, after checking every
    member of it."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                _safe_zip(archive, path)
                listed = {i.filename: i for i in archive.infolist() if not i.is_dir()}
                missing = [n for n in names if n not in listed]
                if missing:
                    raise FetchError(f"{path}: lacks {', '.join(missing)}; not the expected "
                                     "release. Delete it and fetch again")
                out = {}
                for name in names:
                    _check_size(listed[name].file_size, path, name)
                    with archive.open(listed[name]) as member:
                        out[name] = _read_capped(member, path, name)
                return out
        with tarfile.open(path, "r:*") as tar:
            _safe_tar(tar, path)
            out = {}
            for name in names:
                try:
                    member = tar.getmember(name)
                except KeyError:
                    raise FetchError(f"{path}: lacks {name}; not the expected release. Delete "
                                     "it and fetch again") from None
                if not member.isfile():
                    raise FetchError(f"{path}: {name} is not a regular file (a link or a "
                                     "folder); refused")
                _check_size(member.size, path, name)
                out[name] = _read_capped(tar.extractfile(member), path, name)
            return out
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise FetchError(f"{path}: not a readable archive ({exc}); delete it and fetch "
                         "again") from exc


def _check_size(size: int, path: Path, name: str) -> None:
    if size > MAX_MEMBER_BYTES:
        raise FetchError(f"{path}: {name} is {size:,} bytes, far more than the release's file "
                         f"(at most {MAX_MEMBER_BYTES:,}); not the expected release. Delete it "
                         "and fetch again")


def _read_capped(stream, path: Path, name: str) -> bytes:
    """A member's bytes, read up to the cap whatever size its header declares."""
    data = stream.read(MAX_MEMBER_BYTES + 1)
    _check_size(len(data), path, name)
    return data


def _check_lines(data: bytes, member: Member, where) -> None:
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    if lines != member.lines:
        raise FetchError(f"{where}: {lines} lines, the release has {member.lines}; not the "
                         "expected file (delete it and fetch again)")


def _as_text(data: bytes, member: Member) -> bytes:
    if not member.to_utf8:
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="strict").encode("utf-8")


def _checked_members(source: Source, archive: Path) -> dict[Member, bytes]:
    """The files to take from ``archive``, each checked (nothing is written here)."""
    contents = _read_members(archive, [m.inside for m in source.members])
    out = {}
    for member in source.members:
        _check_lines(contents[member.inside], member, f"{archive}:{member.inside}")
        try:
            out[member] = _as_text(contents[member.inside], member)
        except UnicodeDecodeError as exc:
            raise FetchError(f"{archive}:{member.inside}: neither UTF-8 nor Windows-1252 "
                             f"({exc})") from exc
        got = hashlib.sha256(out[member]).hexdigest()
        if member.sha256 and got != member.sha256:
            raise FetchError(f"{archive}:{member.inside}: its sha256 is {got}, the release's "
                             f"is {member.sha256}; not the expected release. Delete it and "
                             "fetch again; if a second fetch fails the same way, the file at "
                             "its public home has changed")
    return out


def _take_members(source: Source, archive: Path, folder: Path) -> dict[str, str]:
    """Every file checked first, then each written whole (none when any check fails)."""
    files = {}
    for member, data in _checked_members(source, archive).items():
        with atomic_write(folder / member.dest) as tmp:
            tmp.write_bytes(data)
        files[member.dest] = hashlib.sha256(data).hexdigest()
    return files


_REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg|unsup)/\d+_\d+\.txt")


def check_reviews(path: Path, expected: dict[str, int]) -> None:
    """The aclImdb archive holds ``expected`` reviews per folder (and nothing unsafe)."""
    counts = dict.fromkeys(expected, 0)
    try:
        with tarfile.open(path, "r:*") as tar:
            _safe_tar(tar, path)
            for member in tar.getmembers():
                match = _REVIEW.fullmatch(member.name.removeprefix("./"))
                if match and member.isfile():
                    folder = f"{match.group(1)}/{match.group(2)}"
                    if folder in counts:
                        counts[folder] += 1
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"{path}: not a readable tar.gz ({exc}); delete it and fetch "
                         "again") from exc
    wrong = {k: v for k, v in counts.items() if v != expected[k]}
    if wrong:
        raise FetchError(f"{path}: review counts " + ", ".join(
            f"{k} {v} (expected {expected[k]})" for k, v in wrong.items())
            + "; not the aclImdb v1.0 release. Delete it and fetch again")


def describe(sources: dict[str, Source] | None = None) -> list[list[str]]:
    """Rows for ``fetch --list``: name, what, where from."""
    sources = SOURCES if sources is None else sources
    return [[s.name, s.what, s.home] for s in sources.values()]



def fetch_default_sst(root: Path) -> None:
    """SST's files, fetched from OpenAI's repository (pinned sha256 values) when a run reads
    them from the user cache and they are not there yet; any other data root is left as it
    is (its loader names what is missing)."""
    folder = Path(root) / "sst"
    if Path(root) == default_data_root() and not all(
            (folder / f).is_file() for f, _ in csv_splits.SST_FILES.values()):
        fetch([SOURCES["sst"]], root, progress=False)

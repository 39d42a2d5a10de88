"""pack_directory: what goes into an upload (.gitignore subset, skipped dirs, links, limits). No service needed."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from griffin_sdk.code import CodeTooLarge, pack_directory


def write(root, rel, text="x"):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def names(packed):
    return sorted(zipfile.ZipFile(io.BytesIO(packed.data)).namelist())


def test_gitignore_patterns_dirs_negation_and_nested_files(tmp_path):
    root = str(tmp_path)
    write(root, ".gitignore", "# outputs\n*.log\ndata/\n/build\n!keep.log\nsecret?.txt\n**/cache/**\n")
    for rel in ["train.py", "run.log", "keep.log", "data/big.csv", "src/data/inner.csv", "build/out.bin", "src/build/kept.py",
                "secret1.txt", "secret10.txt", "src/cache/a/b.bin", "src/pkg/__init__.py", "src/pkg/.gitignore", "src/pkg/local.tmp",
                "__pycache__/x.pyc", ".git/HEAD", ".venv/bin/python", "mod.pyc"]:
        write(root, rel)
    write(root, "src/pkg/.gitignore", "*.tmp\n")
    assert names(pack_directory(root)) == sorted([
        ".gitignore", "keep.log", "secret10.txt", "src/build/kept.py", "src/pkg/.gitignore", "src/pkg/__init__.py", "train.py",
    ])


def test_same_files_give_the_same_bytes(tmp_path):
    write(str(tmp_path), "train.py", "print(1)")
    first = pack_directory(tmp_path).data
    os.utime(tmp_path / "train.py", (0, 0))
    assert pack_directory(tmp_path).data == first


def test_symbolic_links_and_size_limit_are_refused_clearly(tmp_path):
    write(str(tmp_path), "train.py", "x" * 2000)
    with pytest.raises(CodeTooLarge, match="more than 1000 bytes"):
        pack_directory(tmp_path, max_bytes=1000)
    os.symlink("/etc/passwd", tmp_path / "passwd")
    with pytest.raises(ValueError, match="passwd is a symbolic link"):
        pack_directory(tmp_path)
    write(str(tmp_path), ".gitignore", "passwd\n")
    assert names(pack_directory(tmp_path)) == [".gitignore", "train.py"]
    with pytest.raises(ValueError, match="not a directory"):
        pack_directory(tmp_path / "missing")

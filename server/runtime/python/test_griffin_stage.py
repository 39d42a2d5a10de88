"""Tests of griffin_stage: unpacking a run's bundle into the pod's staging directory."""

import io
import os
import stat
import sys
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import griffin_stage as stage  # noqa: E402


def archive(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            z.writestr(info, data)
    return buffer.getvalue()


def test_unpacks_files_with_their_directories_and_executable_bits(tmp_path):
    data = archive({"train.py": (b"print(1)\n", 0o644), ".griffin/griffin_run.py": (b"x = 1\n", 0o644), "run.sh": (b"#!/bin/sh\n", 0o755)})
    assert stage.unpack(data, str(tmp_path)) == 3
    assert (tmp_path / "train.py").read_bytes() == b"print(1)\n"
    assert (tmp_path / ".griffin" / "griffin_run.py").exists()
    assert os.access(tmp_path / "run.sh", os.X_OK)
    assert not os.access(tmp_path / "train.py", os.X_OK)


@pytest.mark.parametrize("name", ["../escape.py", "a/../../escape.py", "/etc/escape.py"])
def test_refuses_paths_that_leave_the_staging_directory(tmp_path, name):
    target = tmp_path / "stage"
    target.mkdir()
    with pytest.raises(SystemExit) as exc:
        stage.unpack(archive({name: (b"x", 0o644)}), str(target))
    assert "outside" in str(exc.value)
    assert not (tmp_path / "escape.py").exists()


def test_a_code_archive_of_one_directory_is_unpacked_from_inside_it(tmp_path):
    data = archive({"repo-main/train.py": (b"1", 0o644), "repo-main/lib/util.py": (b"2", 0o644)})
    stage.unpack(data, str(tmp_path), strip_top=True)
    assert (tmp_path / "train.py").exists() and (tmp_path / "lib" / "util.py").exists()

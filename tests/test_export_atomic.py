"""keras_inception.atomic: durable, uniquely named, umask-following writes; stale temporaries."""

import os
import re
import subprocess

import pytest

from keras_inception import atomic


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_write_fsyncs_the_file_and_the_directory(tmp_path, monkeypatch):
    synced, renamed = [], []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(source, target):
        renamed.append((source, target))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "out.bin"
    atomic.write_bytes(target, b"content")
    atomic.write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    (first, _), (second, _) = renamed
    for temporary in (first, second):
        # The name keeps the target's suffix: Keras and NumPy choose formats by it.
        assert re.fullmatch(rf"\.out\.bin\.tmp-{os.getpid()}-\w+\.bin", os.path.basename(temporary))
    assert first != second  # unique per write, not only per process
    # Each write: the temporary file's content, then the directory holding the rename.
    assert synced == [first, str(tmp_path), second, str(tmp_path)]
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_written_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        assert atomic.umask() == umask
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o666 & ~umask


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    dead = tmp_path / f".out.bin.tmp-{dead_pid()}-abc123"
    dead.write_bytes(b"partial")
    alive = tmp_path / f".out.bin.tmp-{os.getppid()}-def456"
    alive.write_bytes(b"a concurrent writer's")
    other = tmp_path / f".other.tmp-{dead_pid()}-ghi789"
    other.write_bytes(b"another file's, removed when that file is written")
    atomic.write_bytes(tmp_path / "out.bin", b"whole")
    assert sorted(os.listdir(tmp_path)) == sorted(["out.bin", alive.name, other.name])


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    atomic.write_bytes(target, b"old")

    def broken_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_publish_tree_gives_the_umask_modes_recursively(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    os.chmod(tree, 0o700)
    os.chmod(tree / "sub", 0o700)
    (tree / "sub" / "f").write_bytes(b"")
    os.chmod(tree / "sub" / "f", 0o600)
    previous = os.umask(0o027)
    try:
        atomic.publish_tree(tree)
    finally:
        os.umask(previous)
    assert [os.stat(p).st_mode & 0o777 for p in (tree, tree / "sub", tree / "sub" / "f")] == [
        0o750,
        0o750,
        0o640,
    ]

"""Atomic, durable writes: a reader (a polling model server, a phone build) sees
the old file or the new one, never half of one, even after a power cut.

Each file is written to a uniquely named temporary file in the same directory
(``.<name>.tmp-<pid>-<random>``), flushed and fsynced, given the mode the
user's umask allows (``mkstemp`` creates 0600, which would leak through the
rename and hide the file from a server running as another user), renamed over
the target, and the directory is fsynced so the rename itself survives. A
process killed in between leaves its temporary file behind; the next write of
the same name removes the ones whose process is gone (``remove_stale``).
"""

import json
import os
import shutil
import tempfile

from keras_inception import faults


def umask():
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode():
    """``0o666 & ~umask``: the mode ``open`` gives a new file."""
    return 0o666 & ~umask()


def dir_mode():
    """``0o777 & ~umask``: the mode ``mkdir`` gives a new directory."""
    return 0o777 & ~umask()


def temporary_prefix(name):
    """``.<name>.tmp-<pid>-``: the start of this process's temporary names for ``name``."""
    return f".{name}.tmp-{os.getpid()}-"


def pid_alive(pid):
    """Whether a process with this id exists (one of another user's counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(directory, prefix):
    """Removes ``<prefix><pid>-*`` entries of ``directory`` whose process ``pid`` is gone.

    Temporary files and staging directories carry their writer's pid, so a
    concurrent writer's live ones are left alone.

    Args:
        directory: where to look (nothing happens if it does not exist).
        prefix: the name up to the pid, e.g. ``".staging-"``.

    Returns:
        The paths removed.
    """
    removed = []
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        removed.append(path)
    return removed


def fsync_dir(directory):
    """Fsyncs a directory, so that renames and new entries in it survive a power cut."""
    fsync_path(directory)


def fsync_path(path):
    """Fsyncs a file or a directory by its path."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path, content, *, fault=None):
    """Writes ``content`` to ``path`` atomically and durably, with the umask's mode.

    Args:
        path: the file to write (its directory is created if missing).
        content: bytes.
        fault: a fault-injection name, default None. With ``"export.tflite"``,
            the points ``export.tflite_temp_written`` (temporary file complete
            and fsynced) and ``export.tflite_before_rename`` are passed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    prefix = f".{name}.tmp-"
    remove_stale(directory, prefix)
    fd, temporary = tempfile.mkstemp(prefix=temporary_prefix(name), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fchmod(f.fileno(), file_mode())
            os.fsync(f.fileno())
        if fault:
            faults.point(f"{fault}_temp_written")
            faults.point(f"{fault}_before_rename")
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def write_text(path, text, **options):
    """``write_bytes`` of UTF-8 text."""
    write_bytes(path, text.encode("utf-8"), **options)


def write_json(path, value, **options):
    """``write_text`` of ``value`` as indented JSON."""
    write_text(path, json.dumps(value, indent=2) + "\n", **options)


def publish_tree(directory):
    """Gives ``directory`` and everything in it the modes the umask allows.

    ``mkdtemp`` creates 0700 directories, and files written by a library
    through ``mkstemp`` are 0600: before a directory is published by rename,
    its tree gets ``0o777 & ~umask`` (directories) and ``0o666 & ~umask``
    (files), as if the user had created each entry. Symbolic links are left
    alone.
    """
    folder_mode, plain_mode = dir_mode(), file_mode()
    os.chmod(directory, folder_mode)
    for root, folders, files in os.walk(directory):
        for entry in folders:
            path = os.path.join(root, entry)
            if not os.path.islink(path):
                os.chmod(path, folder_mode)
        for entry in files:
            path = os.path.join(root, entry)
            if not os.path.islink(path):
                os.chmod(path, plain_mode)


def fsync_tree(directory):
    """Fsyncs every file and directory under ``directory`` (before it is published)."""
    for root, folders, files in os.walk(directory):
        for entry in files:
            path = os.path.join(root, entry)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(root)

"""Atomic, durable writes: a reader (a polling model server, a phone build) sees
the old file or the new one, never half of one, even after a power cut.

Each file is written to a uniquely named temporary file in the same directory
(``.<name>.tmp-<pid>-<random>``), flushed and fsynced, given the mode the
user's umask allows (``mkstemp`` creates 0600, which would leak through the
rename and hide the file from a server running as another user), renamed over
the target, and the directory is fsynced so the rename itself survives
(``write_file``; ``write_bytes``, ``write_text`` and ``write_json`` on it). A
process killed in between leaves its temporary file behind; the next write of
the same name removes the ones whose process is gone (``remove_stale``).
"""

import json
import os
import secrets
import shutil

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
        pid = entry[len(prefix) :].split("-", 1)[0]
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


def temporary_path(path):
    """A fresh temporary name beside ``path`` that ``remove_stale`` knows.

    ``.<name>.tmp-<pid>-<random><suffix>``: the suffix is the name's from its
    first dot (``.keras``, ``.weights.h5``), since Keras and NumPy choose the
    format from the name.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    suffix = name[name.find(".") :] if "." in name else ""
    token = secrets.token_hex(4)
    return os.path.join(os.path.dirname(path), f"{temporary_prefix(name)}{token}{suffix}")


def write_file(path, write, *, fault=None):
    """Writes a file through ``write(temporary_path)`` and publishes it at ``path``.

    The one atomic, durable writer of the package: the stale temporary files
    of ``path`` are removed, ``write`` fills a new one beside ``path`` (an
    empty file this process created, named like ``temporary_path``), which is
    then published by ``publish``.

    Args:
        path: the file to (re)place (its directory is created if missing).
        write: a function that writes the whole file at the path it is given.
        fault: a fault-injection name, default None: the points
            ``<fault>_temp_written`` (content fsynced) and
            ``<fault>_before_rename`` are passed.

    Returns:
        ``path``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    remove_stale(directory, f".{name}.tmp-")
    temporary = os.path.join(directory, os.path.basename(temporary_path(path)))
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        write(temporary)
    except BaseException:
        _remove(temporary)
        raise
    return publish(temporary, path, fault=fault)


def publish(temporary, path, *, fault=None):
    """Fsyncs the complete ``temporary``, gives it the umask's mode, renames it to ``path``.

    For writers that must create the file themselves (a download); the
    others call ``write_file``. ``temporary`` is removed if this fails.

    Args:
        temporary: the complete file, in ``path``'s directory.
        path: its final name.
        fault: as in ``write_file``.

    Returns:
        ``path``.
    """
    try:
        fsync_path(temporary)
        if fault:
            faults.point(f"{fault}_temp_written")
        os.chmod(temporary, file_mode())
        if fault:
            faults.point(f"{fault}_before_rename")
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return path


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def write_bytes(path, content, *, fault=None):
    """``write_file`` of ``content`` (bytes): atomic and durable, with the umask's mode.

    Args:
        path: the file to write (its directory is created if missing).
        content: bytes.
        fault: as in ``write_file``, default None.
    """

    def write(temporary):
        with open(temporary, "wb") as f:
            f.write(content)

    write_file(path, write, fault=fault)


def write_text(path, text, **options):
    """``write_bytes`` of UTF-8 text."""
    write_bytes(path, text.encode("utf-8"), **options)


def write_json(path, value, *, indent=2, sort_keys=False, **options):
    """``write_text`` of ``value`` as JSON, indented by ``indent`` (default 2)."""
    write_text(path, json.dumps(value, indent=indent, sort_keys=sort_keys) + "\n", **options)


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
    for root, _, files in os.walk(directory):
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

"""Files on disk: crash-safe writes and disk usage, shared by every stage.

Checkpoints, error files, manifests and caches are read by other processes (sensors,
the CLI, a resumed run), so they are always replaced atomically: a reader, or a
process killed mid-write, sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace `path` with `text` atomically; `durable` also fsyncs the data first.

    Files rewritten after every batch may skip the fsync: after a power loss they are
    a little behind, which only makes a resume redo idempotent work.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Durable, atomic JSON (sorted keys, one key a line, for people reading it)."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def dir_size(path: Path) -> int:
    """Bytes used under a directory (files only, symlinks not followed); 0 if missing."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


# --- which filesystem holds a path (the registry and catalog are SQLite per host) ---

MOUNTINFO = Path("/proc/self/mountinfo")

# Filesystems whose files other machines can open too. SQLite's locks and its WAL index
# (a memory-mapped `-shm` file) only coordinate processes of one host, so two hosts
# writing (or one writing, one reading) a WAL database on one of these corrupt it.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ocfs2",
        "gfs2",
        "davfs",
    }
)
# FUSE filesystems are `fuse.<helper>`; these helpers reach other machines.
NETWORK_FUSE_HELPERS = frozenset(
    {
        "sshfs",
        "glusterfs",
        "ceph-fuse",
        "cephfs",
        "s3fs",
        "rclone",
        "gcsfuse",
        "goofys",
        "juicefs",
        "mountpoint-s3",
        "davfs",
        "davfs2",
        "lizardfs",
        "moosefs",
        "mfs",
        "seaweedfs",
        "weed",
    }
)


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: where a filesystem is mounted and its type."""

    mount_point: str
    fs_type: str
    source: str

    @property
    def is_network(self) -> bool:
        kind = self.fs_type.lower()
        if kind in NETWORK_FILESYSTEMS:
            return True
        helper = kind.removeprefix("fuse.") if kind.startswith("fuse.") else None
        return helper in NETWORK_FUSE_HELPERS


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts in the kernel's order (a later mount on the same point hides an earlier one).

    Format (proc(5)): `id parent major:minor root mount_point options [optional...] -
    fs_type source super_options`; lines that do not have it are skipped.
    """
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < dash + 3:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(fields[4]),
                fs_type=_unescape(fields[dash + 1]),
                source=_unescape(fields[dash + 2]),
            )
        )
    return mounts


def mount_of(path: Path, mountinfo: Path = MOUNTINFO) -> Mount | None:
    """The mount holding `path` (symlinks resolved), or None where mountinfo is unreadable.

    None (macOS, a sandbox without /proc) means "unknown", not "local".
    """
    try:
        mounts = parse_mountinfo(mountinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    target = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        # Longest mount point wins; among equal ones the later mount (it is on top).
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = mount
    return best


def network_mount(path: Path, mountinfo: Path = MOUNTINFO) -> Mount | None:
    """The network filesystem holding `path`, or None when it is local (or unknown)."""
    mount = mount_of(path, mountinfo)
    return mount if mount is not None and mount.is_network else None

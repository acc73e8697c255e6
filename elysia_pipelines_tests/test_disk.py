"""Which filesystem holds ELYSIA_HOME, read from files in the kernel's mountinfo format.

The parser takes the mountinfo path, so these tests give it real files written in the
format of /proc/self/mountinfo (proc(5)) describing mounts under tmp_path; one test reads
this machine's own /proc/self/mountinfo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.disk import MOUNTINFO, mount_of, network_mount, parse_mountinfo
from elysia_pipelines.errors import ConfigError
from elysia_pipelines.settings import Settings


@pytest.fixture
def mounts(tmp_path: Path) -> tuple[Path, Path]:
    """A mountinfo file: ext4 root, NFS, CIFS with a space, sshfs, local mounts inside."""
    base = tmp_path.resolve() / "mnt"
    for sub in ("nfs/local", "with space", "ssh", "gvfs", "shadowed", "plain"):
        (base / sub).mkdir(parents=True)
    text = "\n".join(
        [
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
            f"101 27 0:50 / {base}/nfs rw,relatime shared:5 master:2 - nfs4 "
            "fileserver:/export/elysia rw,vers=4.2,hard",
            f"102 27 0:51 / {base}/with\\040space rw - cifs //nas/share rw,vers=3.1.1",
            f"103 27 0:52 / {base}/ssh rw,nosuid - fuse.sshfs user@build:/srv rw",
            f"104 101 0:53 / {base}/nfs/local rw - tmpfs tmpfs rw,size=64k",
            f"105 27 0:54 / {base}/gvfs rw - fuse.gvfsd-fuse gvfsd-fuse rw",
            f"106 27 0:55 / {base}/shadowed rw - nfs server:/old rw",
            f"107 27 0:56 / {base}/shadowed rw - ext4 /dev/vdb rw",
            "garbage line without the separator",
            "",
        ]
    )
    info = tmp_path / "mountinfo"
    info.write_text(text)
    return base, info


def test_parser_reads_types_sources_and_escaped_mount_points(mounts: tuple[Path, Path]) -> None:
    base, info = mounts
    parsed = parse_mountinfo(info.read_text())
    assert len(parsed) == 8
    assert parsed[1].fs_type == "nfs4" and parsed[1].source == "fileserver:/export/elysia"
    assert parsed[2].mount_point == f"{base}/with space" and parsed[2].source == "//nas/share"


@pytest.mark.parametrize(
    ("sub", "fs_type"),
    [
        ("nfs", "nfs4"),
        ("nfs/home/deeper", "nfs4"),
        ("with space/elysia", "cifs"),
        ("ssh/x", "fuse.sshfs"),
    ],
)
def test_homes_on_network_filesystems_are_found(
    mounts: tuple[Path, Path], sub: str, fs_type: str
) -> None:
    base, info = mounts
    found = network_mount(base / sub, info)
    assert found is not None and found.fs_type == fs_type


@pytest.mark.parametrize("sub", ["plain", "nfs/local/home", "gvfs", "shadowed", "nfsx"])
def test_local_ones_are_not(mounts: tuple[Path, Path], sub: str) -> None:
    """Root ext4, tmpfs mounted inside NFS, a local FUSE helper, a local fs on top of an NFS
    mount at the same point, and a sibling whose name only starts like the NFS mount."""
    base, info = mounts
    assert network_mount(base / sub, info) is None
    assert mount_of(base / sub, info) is not None


def test_a_symlink_into_nfs_counts_as_nfs(mounts: tuple[Path, Path]) -> None:
    base, info = mounts
    link = base / "plain" / "home"
    link.symlink_to(base / "nfs")
    found = network_mount(link, info)
    assert found is not None and found.fs_type == "nfs4"


def test_unreadable_mountinfo_means_unknown(tmp_path: Path) -> None:
    assert mount_of(tmp_path, tmp_path / "missing") is None
    assert network_mount(tmp_path, tmp_path / "missing") is None


@pytest.mark.skipif(not MOUNTINFO.exists(), reason="no /proc/self/mountinfo (not Linux)")
def test_this_machines_mountinfo_parses() -> None:
    root = mount_of(Path("/"))
    assert root is not None and root.mount_point == "/" and root.fs_type


def test_ensure_dirs_refuses_a_home_on_nfs_unless_allowed(mounts: tuple[Path, Path]) -> None:
    base, info = mounts
    home = base / "nfs" / "elysia"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"ELYSIA_HOME": str(home)}).ensure_dirs(info)
    assert "network filesystem (nfs4 fileserver:/export/elysia" in refused.value.message
    assert "ELYSIA_ALLOW_NETWORK_FS=1" in (refused.value.hint or "")
    allowed = Settings.from_env({"ELYSIA_HOME": str(home), "ELYSIA_ALLOW_NETWORK_FS": "1"})
    assert allowed.ensure_dirs(info).registry_path.parent == home
    local = Settings.from_env({"ELYSIA_HOME": str(base / "plain" / "elysia")})
    assert local.ensure_dirs(info).home.is_dir()


def test_allow_network_fs_must_be_yes_or_no() -> None:
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"ELYSIA_ALLOW_NETWORK_FS": "sometimes"})
    assert "ELYSIA_ALLOW_NETWORK_FS" in bad.value.message and bad.value.hint

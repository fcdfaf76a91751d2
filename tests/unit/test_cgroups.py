"""Reading a parent cgroup's totals (v1 and v2 layouts, in a temporary tree)."""
from __future__ import annotations

from spawner.runtimes.cgroups import CgroupAccounting


def test_v1_counters_and_removal(tmp_path):
    parent = CgroupAccounting.new_parent()
    relative = parent.strip("/")
    for controller in ("cpuacct", "blkio", "memory"):
        (tmp_path / controller / relative).mkdir(parents=True)
    (tmp_path / "cpuacct" / "cpuacct.usage").write_text("0\n")
    (tmp_path / "cpuacct" / relative / "cpuacct.usage").write_text("12345678\n")
    (tmp_path / "blkio" / relative / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\nTotal 12288\n")
    accounting = CgroupAccounting.detect({"CgroupDriver": "cgroupfs", "CgroupVersion": "1"},
                                         root=tmp_path)
    assert accounting is not None and accounting.version == 1
    assert accounting.cpu_ns(parent) == 12345678
    assert accounting.block_io_bytes(parent) == 12288
    for counter in (tmp_path / "cpuacct" / relative).iterdir():  # a real cgroup's files
        counter.unlink()                                       # go with its rmdir
    for counter in (tmp_path / "blkio" / relative).iterdir():
        counter.unlink()
    accounting.remove(parent)
    assert not any((tmp_path / c / relative).exists() for c in ("cpuacct", "blkio", "memory"))
    assert accounting.cpu_ns(parent) is None  # gone: the caller falls back


def test_v2_counters(tmp_path):
    parent = CgroupAccounting.new_parent()
    (tmp_path / "cgroup.controllers").write_text("cpu io memory\n")
    folder = tmp_path / parent.strip("/")
    folder.mkdir(parents=True)
    (folder / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    (folder / "io.stat").write_text("8:0 rbytes=100 wbytes=20 rios=1 wios=1\n")
    accounting = CgroupAccounting.detect({"CgroupDriver": "cgroupfs", "CgroupVersion": "2"},
                                         root=tmp_path)
    assert accounting.cpu_ns(parent) == 2_500_000 and accounting.block_io_bytes(parent) == 120
    for counter in folder.iterdir():
        counter.unlink()
    accounting.remove(parent)
    assert not folder.exists()


def test_only_the_cgroupfs_driver_and_only_our_parents(tmp_path):
    assert CgroupAccounting.detect({"CgroupDriver": "systemd"}, root=tmp_path) is None
    assert CgroupAccounting.detect({"CgroupDriver": "cgroupfs"}, root=tmp_path) is None  # no tree
    assert CgroupAccounting.is_ours("/actors/0123456789abcdef")
    assert not CgroupAccounting.is_ours("") and not CgroupAccounting.is_ours("/docker")
    assert not CgroupAccounting.is_ours("/actors") and not CgroupAccounting.is_ours(None)

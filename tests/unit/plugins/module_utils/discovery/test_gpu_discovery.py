"""The gpu probe: nvidia-smi's CSV (a real process running the fixture), the driver's /proc files, AMD sysfs."""

import os
import shutil

from ansible_collections.aigov.core.plugins.module_utils.discovery import gpu_discovery

from tests.conftest import ROOT
from tests.contracts import validate
from ..fakeproc import FakeProc

FAKE_SMI = os.path.join(ROOT, 'tests', 'fixtures', 'gpu', 'nvidia-smi')


def discover(tmp_path, **options):
    options.setdefault('proc_root', str(tmp_path / 'proc'))
    options.setdefault('sys_root', str(tmp_path / 'sys'))
    options.setdefault('nvidia_smi', str(tmp_path / 'absent'))
    assets, problems = gpu_discovery.discover_gpus(options, 'gpu1', 'mid')
    for asset in assets:
        validate(asset, 'asset.v1.json')
    return assets, problems


def trusted_copy(tmp_path):
    """The fixture nvidia-smi where root alone can change it (the checkout's own directories may not be)."""
    copy = tmp_path / 'bin' / 'nvidia-smi'
    copy.parent.mkdir()
    shutil.copy(FAKE_SMI, copy)
    copy.chmod(0o755)
    return str(copy)


def test_nvidia_smi(tmp_path):
    FakeProc(tmp_path / 'proc').add(4242, ['python3', 'train.py'], start_time=777)
    assets, problems = discover(tmp_path, nvidia_smi=trusted_copy(tmp_path))
    assert problems == []
    gpus = sorted((a['attributes'] for a in assets), key=lambda g: g['pci_bus'])
    assert [(g['model'], g['memory_mib'], g['driver'], g['source']) for g in gpus] == [
        ('NVIDIA A100-SXM4-80GB', 81920, '550.54.15', 'nvidia-smi')] * 2
    assert gpus[0]['processes'] == [{'pid': 4242, 'start_time': 777, 'name': 'python3', 'used_memory_mib': 40960}]
    assert gpus[1]['processes'] == []


def test_failing_nvidia_smi_falls_back_to_driver_files(tmp_path):
    broken = tmp_path / 'nvidia-smi'
    broken.write_text('#!/bin/sh\necho "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver" >&2\nexit 9\n')
    broken.chmod(0o755)
    gpu_dir = tmp_path / 'proc' / 'driver' / 'nvidia' / 'gpus' / '0000:07:00.0'
    gpu_dir.mkdir(parents=True)
    (gpu_dir / 'information').write_text('Model: \t\t Tesla T4\nIRQ: 42\nGPU UUID: \t GPU-abc\nBus Location: \t 0000:07:00.0\n')
    (tmp_path / 'proc' / 'driver' / 'nvidia' / 'version').write_text(
        'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n')
    assets, problems = discover(tmp_path, nvidia_smi=str(broken))
    assert [(a['attributes']['model'], a['attributes']['uuid'], a['attributes']['driver'], a['attributes']['source'])
            for a in assets] == [('Tesla T4', 'GPU-abc', '535.129.03', 'proc')]
    assert len(problems) == 1 and 'falling back to the driver files' in problems[0]


def test_amd_from_sysfs_and_other_vendors_ignored(tmp_path):
    for card, vendor in (('card0', '0x1002'), ('card1', '0x8086')):
        device = tmp_path / 'sys' / 'class' / 'drm' / card / 'device'
        device.mkdir(parents=True)
        (device / 'vendor').write_text(vendor + '\n')
        (device / 'device').write_text('0x740f\n')
    (tmp_path / 'sys' / 'class' / 'drm' / 'card0' / 'device' / 'mem_info_vram_total').write_text(str(64 * 1024 ** 3))
    assets, problems = discover(tmp_path)
    assert problems == []
    assert [(a['attributes']['vendor'], a['attributes']['model'], a['attributes']['memory_mib']) for a in assets] == [
        ('amd', 'AMD GPU 0x740f', 65536)]


def test_no_gpu_no_asset(tmp_path):
    assert discover(tmp_path) == ([], [])


def test_a_users_nvidia_smi_is_not_run_as_root(tmp_path):
    """A binary another user can change is refused (a problem), never run: the driver files are read instead."""
    marker = tmp_path / 'ran'
    binary = tmp_path / 'nvidia-smi'
    binary.write_text('#!/bin/sh\ntouch %s\n' % marker)
    binary.chmod(0o755)
    os.chown(binary, 65534, -1)
    assets, problems = discover(tmp_path, nvidia_smi=str(binary))
    assert assets == [] and not marker.exists()
    assert len(problems) == 1 and 'can be changed by another user than root' in problems[0], problems
    os.chown(binary, 0, -1)  # the same file as root's: run (the marker proves the test could see a run)
    discover(tmp_path, nvidia_smi=str(binary))
    assert marker.exists()

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gpu probe: NVIDIA GPUs through nvidia-smi's CSV queries when it is
installed, else the NVIDIA driver's /proc files; AMD GPUs from /sys/class/drm."""

from __future__ import annotations

import csv
import glob
import os
import subprocess

from ansible_collections.aigov.core.plugins.module_utils.host import trusted_binary
from ansible_collections.aigov.core.plugins.module_utils.remediation import process_stop
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset

NVIDIA_SMI_DIRS = ('/usr/bin', '/usr/local/bin', '/usr/local/nvidia/bin', '/opt/nvidia/bin')
GPU_FIELDS = ('index', 'uuid', 'name', 'memory.total', 'driver_version', 'pci.bus_id')
APP_FIELDS = ('gpu_uuid', 'pid', 'process_name', 'used_memory')
TIMEOUT = 15


def find_nvidia_smi(explicit=None):
    """(path, why): the nvidia-smi to run as root (the explicit one, or the first on PATH or in the driver
    directories), only where root alone can change it (host/trusted_binary.py); why says what was refused
    (None: none installed)."""
    dirs = os.environ.get('PATH', '').split(os.pathsep) + list(NVIDIA_SMI_DIRS)
    candidates = [explicit] if explicit else [os.path.join(d, 'nvidia-smi') for d in dirs if os.path.isabs(d)]
    return trusted_binary.find('nvidia-smi', candidates)


def _query(binary, kind, fields):
    output = subprocess.run([binary, '--query-%s=%s' % (kind, ','.join(fields)), '--format=csv,noheader,nounits'],
                            capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    return [dict(zip(fields, (cell.strip() for cell in row))) for row in csv.reader(output.splitlines()) if len(row) == len(fields)]


def _int(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def compute_processes(binary):
    """The GPU compute processes nvidia-smi lists now: [{gpu_uuid, pid, process_name, used_memory}] (pid an int)."""
    return [dict(app, pid=_int(app['pid'])) for app in _query(binary, 'compute-apps', APP_FIELDS)]


def _start_time(proc_root, pid):
    ident = process_stop.identity(proc_root, pid) if pid is not None else None
    return ident and ident[1]


def _from_nvidia_smi(binary, proc_root):
    gpus = _query(binary, 'gpu', GPU_FIELDS)
    apps = compute_processes(binary)
    return [{
        'vendor': 'nvidia', 'model': gpu['name'], 'uuid': gpu['uuid'], 'pci_bus': gpu['pci.bus_id'],
        'memory_mib': _int(gpu['memory.total']), 'driver': gpu['driver_version'], 'source': 'nvidia-smi',
        # the start time tells the process from a later one that gets its pid (a remediation checks it)
        'processes': [{'pid': app['pid'], 'start_time': _start_time(proc_root, app['pid']),
                       'name': os.path.basename(app['process_name']), 'used_memory_mib': _int(app['used_memory'])}
                      for app in apps if app['gpu_uuid'] == gpu['uuid']],
    } for gpu in gpus]


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def _optional(path):
    """A sysfs attribute that only some drivers provide, or None."""
    return _read(path) if os.path.exists(path) else None


def _from_nvidia_proc(proc_root):
    try:
        driver = _read(os.path.join(proc_root, 'driver', 'nvidia', 'version')).split('Kernel Module')[-1].split()[0]
    except (IOError, OSError, IndexError):
        driver = None
    gpus = []
    for info in sorted(glob.glob(os.path.join(proc_root, 'driver', 'nvidia', 'gpus', '*', 'information'))):
        fields = dict(line.split(':', 1) for line in _read(info).splitlines() if ':' in line)
        fields = dict((key.strip(), value.strip()) for key, value in fields.items())
        gpus.append({'vendor': 'nvidia', 'model': fields.get('Model'), 'uuid': fields.get('GPU UUID'),
                     'pci_bus': fields.get('Bus Location'), 'memory_mib': None, 'driver': driver,
                     'source': 'proc', 'processes': []})
    return gpus


def _from_drm(sys_root):
    gpus = []
    for device in sorted(glob.glob(os.path.join(sys_root, 'class', 'drm', 'card[0-9]*', 'device'))):
        try:
            if _read(os.path.join(device, 'vendor')) != '0x1002':
                continue  # NVIDIA is read above; other vendors are not accelerators we know
            vram = _optional(os.path.join(device, 'mem_info_vram_total'))
            model = _optional(os.path.join(device, 'product_name'))
            gpus.append({'vendor': 'amd', 'model': model or 'AMD GPU %s' % _read(os.path.join(device, 'device')),
                         'uuid': None, 'pci_bus': os.path.basename(os.path.realpath(device)),
                         'memory_mib': _int(vram) // (1024 * 1024) if _int(vram) else None, 'driver': 'amdgpu', 'source': 'sysfs',
                         'processes': []})
        except (IOError, OSError):
            continue
    return gpus


def discover_gpus(options, host, machine_id):
    """Return (assets, problems) for the GPUs of this host."""
    problems, gpus = [], []
    binary, why = find_nvidia_smi(options.get('nvidia_smi'))
    if why:
        problems.append('gpu: %s; falling back to the driver files' % why)  # installed, but not run as root
    if binary:
        try:
            gpus = _from_nvidia_smi(binary, options.get('proc_root', '/proc'))
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append('gpu: %s failed (%s); falling back to the driver files' % (binary, str(exc).splitlines()[0][:200]))
    if not gpus:
        gpus = _from_nvidia_proc(options.get('proc_root', '/proc'))
    gpus += _from_drm(options.get('sys_root', '/sys'))
    assets = [make_asset('gpu', host, machine_id, (gpu['uuid'] or gpu['pci_bus'] or str(index),), gpu['model'] or gpu['vendor'],
                         gpu, [{'type': 'device', 'source': gpu['source'], 'pci_bus': gpu['pci_bus']}])
              for index, gpu in enumerate(gpus)]
    return sorted(assets, key=lambda asset: asset['id']), problems

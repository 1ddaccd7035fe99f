# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop a runaway GPU compute process, after checking that it is one (aigov.core.ai_gpu_process_stop).

The pid comes from an alert, so it is trusted for nothing: it must be a whole
number, still the process discovery saw (its start time), a compute process
nvidia-smi lists on that GPU right now, and not a protected pid (the model
servers the asset store knows on the host). Only then is it signalled
(process_stop: SIGTERM, wait, SIGKILL, through a pidfd).
"""

from __future__ import annotations

import subprocess

from ansible_collections.aigov.core.plugins.module_utils.discovery import gpu_discovery
from ansible_collections.aigov.core.plugins.module_utils.remediation import process_stop
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError


def stop_gpu_process(pid, gpu_uuid, start_time, protected_pids=(), nvidia_smi=None, timeout=10, proc_root='/proc',
                     check_mode=False):
    """Return (changed, result); AigovError (nothing signalled) when a precondition fails.

    start_time: the process's start time as discovery recorded it (process_stop.find).
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise AigovError('pid must be a whole number above 1, got %r' % (pid,))
    result = {'pid': pid, 'gpu_uuid': gpu_uuid, 'signals': [], 'state': 'stopped'}
    ident = process_stop.find(proc_root, pid, start_time)
    if ident is None:
        result['state'] = 'absent'
        return False, result  # already gone: the post-check holds, nothing to do
    if pid in set(protected_pids or ()):
        raise AigovError('pid %d is protected (a model server or vector database of this host); nothing signalled' % pid)
    binary, why = gpu_discovery.find_nvidia_smi(nvidia_smi)
    if not binary:
        raise AigovError('%s: cannot check that pid %d uses GPU %s; nothing signalled'
                         % (why or 'nvidia-smi not found%s' % (' at %s' % nvidia_smi if nvidia_smi else ''), pid, gpu_uuid))
    try:
        apps = gpu_discovery.compute_processes(binary)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AigovError('%s failed (%s); nothing signalled' % (binary, str(exc).splitlines()[0][:200]))
    on_gpu = sorted(app['pid'] for app in apps if app['gpu_uuid'] == gpu_uuid and app['pid'] is not None)
    if pid not in on_gpu:
        raise AigovError('pid %d is not a compute process of GPU %s (nvidia-smi lists %s); nothing signalled'
                         % (pid, gpu_uuid, ', '.join(str(item) for item in on_gpu) or 'none'))
    result['process_name'] = next(app['process_name'] for app in apps if app['pid'] == pid)
    if check_mode:
        return True, result
    result['signals'] = process_stop.stop(proc_root, ident, timeout)
    return True, result

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Which server a service-definition module acts on (service_config.SERVER_ARGSPEC)."""

    DOCUMENTATION = r"""
options:
  asset_id:
    description: The server's asset id (key of O(services)).
    type: str
  name:
    description: The server's asset name, e.g. C(vllm) (key of O(services) when the id is not).
    type: str
  pids:
    description: The server's process ids, as discovery reported them (to find its systemd unit while it runs).
    type: list
    elements: int
  start_times:
    description:
      - The start time of each of O(pids) as discovery recorded it (the asset's C(start_times); field 22 of
        C(/proc/<pid>/stat)), keyed by pid. A pid that has another start time now is another process; a pid with
        none cannot be told from one. Either way no systemd unit is taken from O(pids), and the module says why.
      - A unit is taken from a pid only when its cgroup is under C(system.slice) (a user's unit of the same name is
        not the system one) and it runs as the unit's C(User=) (root when unset).
    type: dict
    default: {}
  services:
    description:
      - Explicit service definitions, keyed by asset id or name. Each value has C(env_file) (a path) or C(files)
        (a list of paths), an optional C(restart_command) and an optional C(stop_command) (command lines, run
        without a shell).
    type: dict
    default: {}
  proc_root:
    description: The proc filesystem to read the cgroups from.
    type: path
    default: /proc
"""

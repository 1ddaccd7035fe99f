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
  container:
    description:
      - The container discovery saw the server in (the asset's C(container) attribute; C(runtime), C(id) and
        C(name) are read). While the server's O(pids) run, their cgroup names the container and this is not needed;
        once it is down, this is what the runtime is asked to restart. The runtime must still know a container of
        that id under that name.
      - A server in a container is acted on through the runtime's CLI (C(podman restart), C(docker restart); on a
        Kubernetes node C(crictl stop), after which the kubelet starts it again), or through the systemd unit
        that manages the container (label C(PODMAN_SYSTEMD_UNIT)), never by signalling its pids.
    type: dict
  proc_root:
    description: The proc filesystem to read the cgroups from.
    type: path
    default: /proc
"""

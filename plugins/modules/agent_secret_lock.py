#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/agent_secret_lock.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_secret_lock
short_description: Hold one rotation of an AI agent's secret at a time on the controller
version_added: 0.1.0
description:
  - Takes (O(state=locked)) or drops (O(state=unlocked)) the lock file C(<lock_dir>/<agent>.lock) on the controller.
    The M(aigov.core.agent_secret_rotation) role holds it around each agent's whole rotation (write, deliver,
    restart, verify, roll back), so of two runs rotating the same agent at once one proceeds and the other fails
    naming the holder, without changing anything.
  - The lock names the C(ansible-playbook) process that holds it and the machine. A lock whose process is gone (a
    killed run) is taken over with a warning; a lock of a live run, or of another machine, is never taken.
  - Taking a lock this run already holds does nothing; dropping a lock another run holds does nothing.
author:
  - aigov.core maintainers (@aigov)
options:
  agent:
    description: Name of the agent (letters, digits and C(_.@-)).
    type: str
    required: true
  state:
    description: C(locked) takes the lock, C(unlocked) drops it.
    type: str
    choices: [locked, unlocked]
    default: locked
  lock_dir:
    description:
      - Directory of the lock files on the controller (created mode 0700). Runs that must exclude each other use the same one.
      - Or a PostgreSQL URL, C(postgresql://USER@HOST:PORT/DB), or C(postgresql://) alone for the libpq environment
        variables. The locks are then rows in that database, shared by every controller and execution node (docs/fleet-scale.md).
      - When unset or empty, E(AIGOV_DATABASE) when set, else C(aigov-data/locks) (relative to the current directory).
    type: str
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: In check mode no lock is taken or dropped; the result is predicted (changed when it would be taken or
      dropped, and a failure naming the holder when another live run holds it).
  diff_mode:
    support: none
    description: No diff.
notes:
  - The lock excludes runs on one controller. Runs on several machines (AAP execution nodes) are still kept from
    lost updates by the backend's check-and-set (M(aigov.core.agent_secret)).
seealso:
  - module: aigov.core.agent_secret
"""

EXAMPLES = r"""
- name: Rotate one agent at a time
  block:
    - name: Take the agent's rotation lock
      aigov.core.agent_secret_lock:
        agent: support-bot
    # ... rotate, deliver, verify ...
  always:
    - name: Drop the agent's rotation lock
      aigov.core.agent_secret_lock:
        agent: support-bot
        state: unlocked
"""

RETURN = r"""
msg:
  description: What was done.
  returned: always
  type: str
  sample: "agent support-bot: lock held by this run (process 4242)"
"""

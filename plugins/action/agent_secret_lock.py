# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.agent_secret_lock (docs: plugins/modules/agent_secret_lock.py)."""

from __future__ import annotations

import os
import socket

from ansible_collections.aigov.core.plugins.module_utils.secrets import rotation_lock
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction


class ActionModule(ControllerAction):
    """Take or drop the per-agent rotation lock on the controller."""

    ARGUMENT_SPEC = dict(
        agent=dict(type='str', required=True),
        state=dict(type='str', default='locked', choices=['locked', 'unlocked']),
        lock_dir=dict(type='str'),
    )

    def run_on_controller(self, args, task_vars, result):
        # Tasks run in worker processes forked by ansible-playbook: the parent is the run, which holds
        # the lock from one task to another and whose death makes the lock stale.
        run_pid, machine = os.getppid(), socket.gethostname()
        args['lock_dir'] = rotation_lock.location(args['lock_dir'])
        if self._task.check_mode:  # predicted, not skipped: a lock another live run holds fails here too
            changed, note = rotation_lock.predict(args['lock_dir'], args['agent'], run_pid, machine, args['state'])
            result.update(changed=changed, msg='agent %s: check mode, lock %s' % (args['agent'], (
                ('would be taken' if changed else 'already held by this run') if args['state'] == 'locked'
                else ('would be released' if changed else 'not held by this run'))))
            if note:
                self._display.warning('agent %s: would have %s' % (args['agent'], note))
            return result
        if args['state'] == 'locked':
            changed, note = rotation_lock.acquire(args['lock_dir'], args['agent'], run_pid, machine)
            result.update(changed=changed, msg='agent %s: lock held by this run (process %d)' % (args['agent'], run_pid))
            if note:
                self._display.warning('agent %s: %s' % (args['agent'], note))
        else:
            changed = rotation_lock.release(args['lock_dir'], args['agent'], run_pid, machine)
            result.update(changed=changed, msg='agent %s: lock %s' % (args['agent'], 'released' if changed else 'not held by this run'))
        return result

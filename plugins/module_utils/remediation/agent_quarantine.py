# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quarantine an AI agent on its host: stop it through its service definition, and keep a record.

The record (<record_dir>/<agent>.json, mode 0600) says when and why the agent
was stopped, with which commands, and how a release starts it again (its
restart commands). A release runs those and removes the record. Revoking the
agent's credential is the controller's half (aigov.core.agent_secret), done
by the remediation after this; the record does not hold the credential.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.remediation import process_stop
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

RECORD_SCHEMA_VERSION = 1
STATES = ('quarantined', 'released')
_AGENT = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@-]*$')  # as agent_secret names agents


def record_path(record_dir, agent):
    if not _AGENT.match(agent or ''):
        raise AigovError('agent must be a name of letters, digits and _.@- (got %r)' % (agent,))
    if not os.path.isabs(record_dir):
        raise AigovError('record_dir must be an absolute path, got %r' % (record_dir,))
    return os.path.join(record_dir, '%s.json' % agent)


def read_record(path):
    try:
        return json.loads(safe_files.read_text(path, 'read the quarantine record'))
    except FileNotFoundError:
        return None
    except (AigovError, OSError, ValueError) as exc:
        raise AigovError('cannot read the quarantine record %s: %s' % (path, exc))


def _write_record(path, record):
    # Through safe_files, as every file root writes on a host: never through a link or a directory another user controls.
    safe_files.ensure_dir(os.path.dirname(path), 0o700, parents=True)
    text = json.dumps(record, indent=2, sort_keys=True) + '\n'
    safe_files.replace_file(path, text.encode('utf-8'), 0o600)


def quarantine(run, agent, asset_id, pids, start_times, location, record_dir, reason=None, timeout=30, proc_root='/proc',
               check_mode=False, now=None):
    """Stop the agent and record it; return (changed, result).

    run(argv) -> (rc, stderr) runs a command without a shell. pids and
    start_times ({pid: start time}): the agent's processes as discovery saw
    them; each must be gone afterwards. A pid that is another process now is
    refused (process_stop.find).
    """
    path = record_path(record_dir, agent)
    idents = [ident for ident in (process_stop.find(proc_root, pid, start_times.get(pid)) for pid in pids or ()) if ident]
    record = read_record(path)
    result = {'agent': agent, 'record_path': path, 'stop_commands': location['stop_commands'], 'running': [i[0] for i in idents]}
    if record and record.get('state') == 'quarantined' and not idents:
        return False, dict(result, record=record)
    # The stop runs even when none of PIDS is alive: the store's pids may be older than the agent's last restart.
    if not location['stop_commands']:
        raise AigovError('no stop command for agent %s: %s; nothing was stopped'
                         % (agent, location.get('problem') or 'its services entry has no stop_command'))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    record = {'schema_version': RECORD_SCHEMA_VERSION, 'agent': agent, 'asset_id': asset_id, 'state': 'quarantined',
              'time': now.strftime('%Y-%m-%dT%H:%M:%SZ'), 'reason': reason, 'stopped_pids': [i[0] for i in idents],
              'stop_commands': location['stop_commands'], 'release_commands': location['restart_commands']}
    if check_mode:
        return True, dict(result, record=record)
    for argv in location['stop_commands']:
        rc, err = run(argv)
        if rc != 0:
            raise AigovError('stopping agent %s: %s exited with %d: %s' % (agent, argv[0], rc, err.strip()[-500:]))
    left = process_stop.wait_gone(proc_root, idents, timeout)
    if left:
        raise AigovError('agent %s: pid(s) %s still run %d s after its stop command; not recorded as quarantined'
                         % (agent, ', '.join(str(i[0]) for i in left), timeout))
    _write_record(path, record)
    return True, dict(result, record=record, running=[])


def release(run, agent, record_dir, check_mode=False):
    """Start the agent again with the commands its record holds and remove the record; return (changed, result)."""
    path = record_path(record_dir, agent)
    record = read_record(path)
    result = {'agent': agent, 'record_path': path, 'record': record}
    if record is None:
        return False, result
    if not record.get('release_commands'):
        raise AigovError('the quarantine record %s holds no command to start agent %s again; start it by hand and '
                         'remove the record' % (path, agent))
    if check_mode:
        return True, result
    for argv in record['release_commands']:
        rc, err = run(argv)
        if rc != 0:
            raise AigovError('releasing agent %s: %s exited with %d: %s; the record is kept' % (agent, argv[0], rc, err.strip()[-500:]))
    os.unlink(path)
    return True, result

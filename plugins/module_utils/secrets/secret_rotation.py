# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bookkeeping of the agent_secret_rotation role: which agents, why each rotates, what became of each.

Plain data in, plain data out (the role's filters call it); no value of a
secret ever passes through here, only versions and fingerprints.

- agents(): the agents to manage, from the explicit list and from inventory
  hosts' `aigov_agents`, each validated, given its defaults, and its owner and
  risk tier from the registry.
- decide(): rotate or not, and why (leaked, forced, missing, due).
- outcome() / report(): one record per agent, and the summary the play ends with.
"""

from __future__ import annotations

import datetime

from ansible_collections.aigov.core.plugins.module_utils.store import registry as registry_lib
from ansible_collections.aigov.core.plugins.module_utils.secrets.agent_secret import parse_max_age
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import parse_time

# Every key an agent may have, with its default (REQUIRED: must be given). Keep in step with
# roles/agent_secret_rotation/meta/argument_specs.yml (a unit test compares them).
REQUIRED = object()
AGENT_KEYS = dict(
    name=REQUIRED, host=REQUIRED, env_file=REQUIRED, env_var=REQUIRED, restart_command=REQUIRED, verify_url=REQUIRED,
    owner=None, path=None, file_owner='root', file_group='root', verify_header='Authorization', verify_scheme='Bearer',
    verify_status=200, prefix='', length=40, overlap=False, previous_env_var=None, credential_type='static',
    # short-lived credentials (tasks/short_lived.yml, module agent_credential)
    record_path=None, policies=[], token_role=None, ttl='1h', explicit_max_ttl='0', renewable=True, approle_role=None,
    secret_id_num_uses=0, role_id_var=None, renew_threshold=0.5,
)
_STRINGS = ('name', 'host', 'env_file', 'env_var', 'verify_url', 'owner', 'path', 'file_owner', 'file_group',
            'verify_header', 'verify_scheme', 'prefix', 'previous_env_var', 'credential_type', 'record_path', 'token_role',
            'ttl', 'explicit_max_ttl', 'approle_role', 'role_id_var')
CREDENTIAL_TYPES = ('static', 'vault_token', 'approle_secret_id')
# What each outcome means for the run, and how the audit log records it.
REASONS = dict(leaked='rotation forced: the key was flagged as leaked (agent_secret_rotation_leaked)',
               forced='forced rotation (agent_secret_rotation_force)', missing='no secret yet',
               due='older than agent_secret_rotation_max_age')
# name: (audit outcome, whether the run ends well). Documented in docs/secrets.md ("Outcomes").
# The agent keeps a working key in every one of them; what differs is where the backend stands.
OUTCOMES = dict(
    rotated=('success', True),           # new version written, delivered, verified
    renewed=('success', True),           # a short-lived token renewed in place: nothing delivered
    unchanged=(None, True),              # nothing to do
    converged=('success', True),         # the backend's current value delivered (or an interrupted delivery finished)
    repaired=('success', True),          # an agent left on its kept previous key: that key is the backend's current again
    rolled_back=('rolled_back', False),  # the new value failed; agent and backend back on the previous one, verified
    agent_rolled_back=('rolled_back', False),    # agent back and verified; backend unreachable: next run repairs it
    backend_rolled_back=('rolled_back', False),  # agent's host unreachable; backend back; next run checks the agent
    refused=('refused', False),          # nothing written or delivered
    failed=('failure', False),           # no working state could be verified: needs a person
)


class RotationError(AigovError):
    """The agents given to the rotation are invalid; the message names each problem and where it is."""


def _check_agent(agent, where, problems):
    """The agent with its defaults, or None after appending its problems."""
    if not isinstance(agent, dict):
        problems.append('%s: must be a mapping of %s' % (where, ', '.join(sorted(AGENT_KEYS))))
        return None
    where = '%s (agent %s)' % (where, agent.get('name')) if agent.get('name') else where
    count = len(problems)
    for key in sorted(set(agent) - set(AGENT_KEYS)):
        problems.append('%s: unknown key %r (known: %s)' % (where, key, ', '.join(sorted(AGENT_KEYS))))
    full = dict((key, agent.get(key, list(default) if isinstance(default, list) else default))
                for key, default in AGENT_KEYS.items())
    for key in sorted(key for key, value in full.items() if value is REQUIRED or value is None and AGENT_KEYS[key] is REQUIRED):
        problems.append('%s: %s is required' % (where, key))
    for key in _STRINGS:
        if full[key] not in (None, REQUIRED) and not isinstance(full[key], str):
            problems.append('%s: %s must be a string' % (where, key))
    command = full['restart_command']
    if command is not REQUIRED and (not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command)):
        problems.append('%s: restart_command must be a non-empty list of strings (argv)' % where)
    if full['credential_type'] not in CREDENTIAL_TYPES:
        problems.append('%s: credential_type must be one of %s' % (where, ', '.join(CREDENTIAL_TYPES)))
    try:
        overlap_seconds(full)
    except AigovError as exc:
        problems.append('%s: %s' % (where, exc))
    if len(problems) > count:
        return None
    if not full['previous_env_var']:
        full['previous_env_var'] = full['env_var'] + '_PREVIOUS'
    return full


def overlap_seconds(agent):
    """None: no overlap window; 0: the old secret stays until the new one verifies; N: for N more seconds."""
    overlap = agent.get('overlap')
    if overlap is None or overlap is False:
        return None
    if overlap is True:
        return 0
    try:
        return parse_max_age(overlap)
    except AigovError:
        raise RotationError('overlap must be true, false or a duration such as 1h or 30m (got %r)' % (overlap,))


def _registry_match(reg, agent):
    if not reg:
        return {}
    asset = dict(id='agent:%s' % agent['name'], kind='agent', name=agent['name'], host=agent['host'],
                 inventory_hostname=agent['host'])
    return registry_lib.match(reg, asset)


def agents(explicit, inventory=None, reg=None, force=(), leaked=()):
    """The agents to manage: the explicit list, then each inventory host's `aigov_agents`.

    inventory maps an inventory host to its `aigov_agents` list (host is
    implied). Each agent gets its defaults, `source`, and from the registry
    (an asset of kind `agent` named after it) `owner` (unless given: the
    use case's decision owner), `risk_tier` and `use_case`. Raise
    RotationError listing every problem; names in force or leaked that are
    no agent are problems too (a leaked key must not go unrotated quietly).
    """
    problems, found, seen = [], [], {}
    candidates = [(agent, 'agent_secret_rotation_agents[%d]' % index, 'explicit') for index, agent in enumerate(explicit or [])]
    for host in sorted(inventory or {}):
        listed = inventory[host]
        if not isinstance(listed, list):
            problems.append('inventory host %s: aigov_agents must be a list of agents' % host)
            continue
        for index, agent in enumerate(listed):
            if isinstance(agent, dict) and 'host' in agent and agent['host'] != host:
                problems.append('inventory host %s: aigov_agents[%d]: host must be left out (it is %s)' % (host, index, host))
                continue
            agent = dict(agent, host=host) if isinstance(agent, dict) else agent
            candidates.append((agent, 'inventory host %s: aigov_agents[%d]' % (host, index), 'inventory'))
    for agent, where, source in candidates:
        full = _check_agent(agent, where, problems)
        if full is None:
            continue
        if full['name'] in seen:
            problems.append('%s: agent %s is already defined by %s' % (where, full['name'], seen[full['name']]))
            continue
        seen[full['name']] = where
        match = _registry_match(reg, full)
        full.update(source=source, risk_tier=match.get('risk_tier'), use_case=match.get('use_case'),
                    owner=full['owner'] or (match.get('owners') or {}).get('decision'))
        found.append(full)
    for option, names in (('agent_secret_rotation_force', force), ('agent_secret_rotation_leaked', leaked)):
        unknown = sorted(set(names or ()) - set(seen))
        if unknown:
            problems.append('%s names no known agent: %s (known: %s)' % (option, ', '.join(unknown), ', '.join(sorted(seen)) or 'none'))
    if problems:
        raise RotationError('agent secret rotation refused before changing anything:\n  - ' + '\n  - '.join(problems))
    return found


def decide(agent, current, force=(), leaked=(), now=None):
    """What to do with the agent now; current is agent_secret's state=read result.

    rotate and why (leaked, forced, missing, due); overlap: whether the agent
    gets the previous secret next to the new one while the new one is
    verified; window_closes_later: whether it keeps it after (a timed window);
    window_open: whether, not rotating, it may still hold the previous one (if it does now).
    """
    if agent['name'] in (leaked or ()):
        reason = 'leaked'
    elif agent['name'] in (force or ()):
        reason = 'forced'
    elif not current.get('exists'):
        reason = 'missing'
    elif current.get('due'):
        reason = 'due'
    else:
        reason = None
    seconds = overlap_seconds(agent)
    # A leaked key must stop working now: no overlap window for it. The window of an earlier rotation stays
    # open only while the agent still holds both keys (the role checks its file), so it is never reopened.
    overlap = seconds is not None and reason != 'leaked'
    return dict(rotate=reason is not None, reason=reason, reason_text=REASONS.get(reason), overlap=overlap,
                window_closes_later=overlap and bool(seconds), window_open=_window_open(seconds, current, now))


def _window_open(seconds, current, now=None):
    if not seconds or not current.get('exists') or (current.get('version') or 0) < 2 or not current.get('created_time'):
        return False
    # From created_time, not age_days: that is rounded to a thousandth of a day (86 s).
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (now - parse_time(current['created_time'])).total_seconds() < seconds


def outcome(agent, result, before=None, after=None, message=None, reason=None):
    """One agent's record: what became of it, with versions and fingerprints (never values).

    A short-lived credential's "version" is its accessor.
    """
    if result not in OUTCOMES:
        raise RotationError('rotation outcome must be one of %s, not %r' % (', '.join(OUTCOMES), result))
    before, after = before or {}, after or {}
    record = dict(agent=agent['name'], host=agent['host'], owner=agent.get('owner'), risk_tier=agent.get('risk_tier'),
                  use_case=agent.get('use_case'), outcome=result, reason=reason,
                  credential_type=agent.get('credential_type') or 'static',
                  old_version=before.get('version'), old_fingerprint=before.get('fingerprint'),
                  new_version=after.get('version', before.get('version')),
                  new_fingerprint=after.get('fingerprint', before.get('fingerprint')), message=message)
    record['audit_outcome'] = OUTCOMES[result][0]
    record['audit_action'] = 'agent_secret_rotation.%s' % dict(converged='converge', repaired='repair').get(result, 'rotate')
    return record


def _change(old, new):
    """'old -> new', just 'new' when nothing changed or there was nothing before, None when there is nothing."""
    if new is None and old is None:
        return None
    return '%s' % new if old is None or old == new else '%s -> %s' % (old, new)


def _line(record):
    label = 'version' if record.get('credential_type', 'static') == 'static' else 'accessor'
    versions = _change(record['old_version'], record['new_version'])
    prints = _change(record['old_fingerprint'], record['new_fingerprint'])
    parts = [part for part in ('%s %s' % (label, versions) if versions else None, prints) if part]
    line = '%s on %s: %s' % (record['agent'], record['host'], record['outcome'])
    line += ' (%s)' % ', '.join(parts) if parts else ''
    return line + (': %s' % record['message'] if record.get('message') else '')


def report(records):
    """The run's summary: one line per agent, counts per outcome, and whether every agent ended well."""
    failed = [record for record in records if not OUTCOMES[record['outcome']][1]]
    counts = dict((name, sum(1 for record in records if record['outcome'] == name)) for name in OUTCOMES)
    return dict(ok=not failed, counts=counts, lines=[_line(record) for record in records],
                failed=[_line(record) for record in failed], agents=list(records))

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate before a remediation runs: the plan (remediation.plan) with what it needs from the asset store,
the registry and, on AAP, the workflow's approval node, and its audit entry (the start, or the refusal).

plan_and_record() is the one engine call of aigov.core.remediation_plan. In check mode it
predicts: the plan is made and returned the same way (an AAP approval it would record is seen by
the plan), nothing is appended.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import time

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.store import registry, registry_signers
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store import read_inventory
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store

_SERVERS = ('model_server', 'vector_db')


def store_view(store, asset_id):
    """(the asset's record, pids of the servers on its host) from the asset store."""
    if not asset_id or not (database.is_database(store) or os.path.exists(store)):
        return None, []
    rows = read_inventory(open_store(store, create=False))['assets']
    record = next((dict(row['record'], inventory_hostname=row['inventory_hostname']) for row in rows
                   if row['id'] == asset_id), None)
    if record is None:
        return None, []
    servers = [pid for row in rows if row['inventory_hostname'] == record['inventory_hostname']
               and row['record'].get('kind') in _SERVERS
               for pid in (row['record'].get('attributes') or {}).get('pids') or [] if isinstance(pid, int)]
    return record, servers


@contextlib.contextmanager
def planning(log_path):
    """One plan at a time per audit log (an exclusive flock on <log>.plan.lock): the look for an earlier start of a
    decision and the append of its own start are one step, so two runs of one decision (a redelivered event, an action
    ansible-rulebook's persistence runs again after a crash while the first run goes on) cannot both start.
    For a log in PostgreSQL the lock is a database advisory lock: one plan at a time on every node."""
    if database.is_database(log_path):
        with database.advisory_lock(log_path, 'aigov.plan', 'audit log', error=audit_log.AuditLogError):
            yield
        return
    try:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), mode=0o750, exist_ok=True)
        fd = os.open(log_path + '.plan.lock', os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise audit_log.AuditLogError('cannot open the plan lock of audit log %s: %s' % (log_path, exc.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def approved_models(reg, record):
    """The approved models of the use case the registry matches the asset to (none when it matches none)."""
    if record is None:
        return []
    use_case = registry.match(reg, record)['use_case']
    return next((list(item.get('approved_models') or []) for item in reg['use_cases'] if item['id'] == use_case), [])


def model_signatures(reg, record):
    """What a rollback candidate's signature must satisfy: the use case's {required, signers} (registry_signers)."""
    if record is None:
        return {'required': False, 'signers': []}
    return registry_signers.trust_for(reg, registry.match(reg, record)['use_case'])


def _aap_entry(aap, event, payload, keyring, run_by):
    """The sealed approval.decision entry of the AAP workflow approval node that let this job run."""
    workflow_job, lookup = aap
    try:
        found = lookup()
    except AigovError as exc:  # aap_approval.AapApprovalError: no approval can be confirmed
        raise remediation.RemediationRefused('no approval in AAP workflow job %s: %s' % (workflow_job, exc))
    request = entries.event_request(event, payload, found['request'])
    return entries.approval_decision(request, 'approve', found['approver'], keyring, run_by,
                                     workflow=dict(workflow_job=found['workflow_job'], approved_at=found['approved_at']))


def plan_and_record(payload, log_path, keyring, table, policy, reg, store, inventory_hosts, run_by, approval=None,
                    jobs=None, aap=None, check_mode=False, services_of=None):
    """The plan of payload's remediation (remediation.plan), its remediation.start entry appended; or
    RemediationRefused, its remediation.refused entry appended. Nothing is appended in check mode.

    table: the action table; policy: the guardrail policy (its blast-radius limit); reg: the registry;
    store: the asset store's path; inventory_hosts: the inventory's host names; run_by: the actor;
    jobs: {awx_job_id} on AAP; aap: None, or (workflow job id, a function returning aap_approval.verified_approval()
    of this job's workflow), asked only for a review decision run without an approval id. services_of: host name ->
    its aigov_baseline_services (the plan checks the service definition before the start).
    """
    started = time.monotonic()
    event = remediation.decode_payload(payload)
    audit_log.check_appendable(log_path)  # a start or a refusal the log cannot record is not made
    asset = event.get('asset') if isinstance(event.get('asset'), dict) else {}
    record, server_pids = store_view(store, str(asset.get('asset_id') or ''))
    with planning(log_path):
        predicted = []  # in check mode the AAP approval is not written, yet the plan must see it
        try:
            if not approval and aap is not None and remediation.needs_approval(event):
                approved = _aap_entry(aap, event, payload, keyring, run_by)
                if check_mode:
                    predicted.append(approved)
                else:
                    audit_log.append(log_path, **approved)
                approval = approved['details']['request']
            found = remediation.plan(
                payload, inventory_hosts, policy['limits']['max_hosts_per_action'],
                itertools.chain(predicted, audit_log.iter_newest_first(log_path)), keyring, table, approval=approval,
                asset_record=record, approved_models=approved_models(reg, record), protected_pids=server_pids,
                services_of=services_of)
            if found['remediation'] == 'rollback_model':
                found['model_signatures'] = model_signatures(reg, record)
        except remediation.RemediationRefused as refused:
            if not check_mode:
                audit_log.append(log_path, **entries.remediation_refused(event, payload, approval, refused, run_by, jobs))
            raise
        if not check_mode:
            audit_log.append(log_path, **entries.remediation_start(found, run_by, jobs,
                                                                   round((time.monotonic() - started) * 1000, 1)))
    return found

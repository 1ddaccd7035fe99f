"""Figure: reading the audit log for the governance KPIs and for remediation_plan's lookup, 100,000 entries.

kpis     governance_kpis.compute() (streamed, chain checked entry by entry, every KPI) vs the floor:
         a plain `json.loads` of every line of the same file. Ratio = compute time / floor time.
lookup   remediation.plan() as remediation_plan runs it (the log read newest first, stopping at the
         event's decision) on a log of 100,000 entries vs the same plan on a log holding only the
         decision. Also shown: the forged event (no decision: the scan stops at the event's receipt
         time minus the slack), and the previous approach (read_entries of the whole log).

The log mixes what the collection writes: per alert a decision, a remediation start and outcome,
every fourth a review with its approval, every tenth an escalation, some secret rotations.
Medians of interleaved rounds, one process.
"""

import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

import json  # noqa: E402

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys, governance_kpis  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions, remediation  # noqa: E402

START = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
RECORD = {'id': 'model_server:1', 'kind': 'model_server', 'name': 'vllm', 'inventory_hostname': 'gpu-1',
          'attributes': {'pids': [42], 'listeners': [{'address': '0.0.0.0', 'port': 8000}]}}


def _iso(moment):
    return moment.isoformat(timespec='microseconds')


def _alert_entries(number, moment):
    """The entries one alert leaves, its decision first."""
    fp = 'fp%06d' % number
    kind = 'escalate' if number % 10 == 0 else 'review' if number % 4 == 0 else 'automate'
    received = _iso(moment)
    started = _iso(moment - datetime.timedelta(seconds=30))
    owner = 'team-%d' % (number % 7)
    common = dict(subject='model_server:%d' % (number % 500), owner=owner)
    entries = [dict(common, actor=remediation.SOURCE_ACTOR, action='decision', outcome='planned', reasons=['why'],
                    details=dict(fingerprint=fp, name='ModelServerDown', status='firing', decision=kind,
                                 risk_tier='limited', confidence=0.9, known=True, policy='default', received_at=received,
                                 starts_at=started, exceptions=['freeze'] if kind == 'escalate' else []), now=received)]
    if kind == 'escalate':
        return entries + [dict(common, actor='ops', action='escalation.notify', outcome='success', reasons=['why'],
                               details=dict(fingerprint=fp, decision='escalate', http_status=200), now=received)]
    if kind == 'review':
        entries.append(dict(common, actor='alice', action='approval.decision', outcome='success', reasons=['ok'],
                            details=dict(request='r%06d' % number, verdict='approve', fingerprint=fp,
                                         proposed_decision='review', override=False), now=received))
    details = dict(remediation='restart_model_server', target='gpu-1', decision=kind, fingerprint=fp, approval=None,
                   risk_tier='limited', starts_at=started, received_at=received)
    later = _iso(moment + datetime.timedelta(seconds=20))
    return entries + [dict(common, actor='ops', action='remediation.start', outcome='planned', reasons=['go'],
                           details=dict(details, plan_ms=4.0), now=received),
                      dict(common, actor='ops', action='remediation.outcome', outcome='success', reasons=['done'],
                           details=details, now=later)]


def build_log(path, entries):
    """A log of about `entries` entries, one alert a minute from START, written in batches."""
    batch, written, number = [], 0, 0
    while written < entries:
        moment = START + datetime.timedelta(minutes=number)
        records = _alert_entries(number, moment)
        if number % 5 == 0:
            records.append(dict(actor='ops', action='agent_secret.rotate', subject='agent-%d' % number, owner='team-1',
                                outcome='success', reasons=['max_age'], now=_iso(moment),
                                details=dict(path='agents/a', old_fingerprint='hmac-sha256:%016d' % number)))
        batch += records
        written += len(records)
        number += 1
        if len(batch) >= 5000:
            audit_log.append_many(path, batch)
            batch = []
    if batch:
        audit_log.append_many(path, batch)
    return written


def floor(path):
    """The least a reader must do: parse every line."""
    with open(path, 'rb') as handle:
        return sum(1 for line in handle if json.loads(line))


def event_at(moment, fingerprint):
    return {'alert': {'fingerprint': fingerprint, 'name': 'ModelServerDown', 'status': 'firing'},
            'asset': {'asset_id': 'model_server:1', 'inventory_hostname': 'gpu-1'},
            'decision': {'decision': 'automate', 'accountable': 'team-a'}, 'meta': {'received_at': _iso(moment)}}


KEYS = decision_keys.parse('bench:%s' % ('k' * 40), 'bench keys')
TABLE = actions.load_actions(os.path.join(ROOT, 'actions', 'default.yml'))


def append_decision(path, event):
    audit_log.append(path, now=event['meta']['received_at'], **KEYS.seal(dict(
        actor=remediation.SOURCE_ACTOR, action='decision', subject='model_server:1', owner='team-a', outcome='planned',
        reasons=['why'], details=dict(fingerprint=event['alert']['fingerprint'], decision='automate', status='firing',
                                      received_at=event['meta']['received_at'],
                                      payload_sha256=remediation.payload_digest(remediation.encode_payload(event))))))


def lookup(path, event, whole=False):
    entries = ([e for _n, e in reversed(audit_log.read_entries(path))] if whole else audit_log.iter_newest_first(path))
    try:
        return remediation.plan(remediation.encode_payload(event), ['gpu-1'], 5, entries, KEYS, TABLE, asset_record=RECORD)
    except remediation.RemediationRefused:
        return None


def timed(function, rounds):
    times = []
    for _round in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


SMOKE = {'kpis_entries': 500, 'kpis_rounds': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    work = tempfile.mkdtemp(prefix='aigov-bench-kpis-')
    try:
        big, small = os.path.join(work, 'big.jsonl'), os.path.join(work, 'small.jsonl')
        count = build_log(big, args.kpis_entries)
        now = START + datetime.timedelta(days=400)  # the live event comes long after the history
        event = event_at(now, 'live')
        append_decision(big, event)
        append_decision(small, event)
        forged = event_at(now, 'forged')
        # Anchored at the head and with the decision keys, as a trusted report is made (an unanchored log is never trusted).
        head = audit_log.read_entries(big)[-1][1]
        anchor = {'seq': head['seq'], 'hash': head['hash']}
        cand, base = [], []
        for _round in range(args.kpis_rounds):  # interleaved: both see the same load on a shared machine
            cand.append(timed(lambda: governance_kpis.compute(big, anchor=anchor, keyring=KEYS), 1))
            base.append(timed(lambda: floor(big), 1))
        report = governance_kpis.compute(big, anchor=anchor, keyring=KEYS)
        if not report['trusted'] or report['log']['entries'] != count + 1:
            sys.exit('kpis figure: the generated log does not verify')
        rounds = args.kpis_rounds * 20
        on_big = timed(lambda: lookup(big, event), rounds)
        on_small = timed(lambda: lookup(small, event), rounds)
        forged_big = timed(lambda: lookup(big, forged), rounds)
        whole_big = timed(lambda: lookup(big, event, whole=True), args.kpis_rounds)
        if lookup(big, event) is None or lookup(big, forged) is not None:
            sys.exit('lookup figure: the plan did not find the recorded decision, or accepted a forged one')
    finally:
        shutil.rmtree(work)
    cand_s, base_s = statistics.median(cand), statistics.median(base)
    print('\naudit log of %d entries, medians of %d interleaved rounds' % (count + 1, args.kpis_rounds))
    print('  floor     json.loads of every line                      %.3f s' % base_s)
    print('  candidate governance_kpis.compute (chain + every KPI)   %.3f s  %.0f entries/s'
          % (cand_s, (count + 1) / cand_s))
    print('  ratio     %.2fx the floor' % (cand_s / base_s))
    print('remediation_plan lookup (median of %d)' % rounds)
    print('  log holding only the decision        %.3f ms' % (on_small * 1000))
    print('  %d entries, decision at the tail  %.3f ms  (%.2fx)' % (count + 1, on_big * 1000, on_big / on_small))
    print('  %d entries, forged event          %.3f ms  (%.2fx)' % (count + 1, forged_big * 1000, forged_big / on_small))
    print('  previous: read the whole log          %.1f ms  (%.0fx)' % (whole_big * 1000, whole_big / on_small))
    return {'figure': 'governance_kpis_vs_json_loads', 'entries': count + 1, 'rounds': args.kpis_rounds,
            'floor_median_s': round(base_s, 4), 'candidate_median_s': round(cand_s, 4), 'ratio': round(cand_s / base_s, 2),
            'lookup_only_decision_ms': round(on_small * 1000, 4), 'lookup_100k_ms': round(on_big * 1000, 4),
            'lookup_100k_ratio': round(on_big / on_small, 2), 'lookup_forged_100k_ms': round(forged_big * 1000, 4),
            'lookup_whole_log_ms': round(whole_big * 1000, 2)}


def add_arguments(parser):
    parser.add_argument('--kpis-entries', type=int, default=100000, help='entries in the audit log of the kpis figure')
    parser.add_argument('--kpis-rounds', type=int, default=5, help='interleaved timed rounds of the kpis figure (median)')

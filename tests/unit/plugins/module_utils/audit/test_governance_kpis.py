"""Governance KPIs over hand-built audit logs: every figure with its exact value, and the edge cases."""

import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, governance_kpis
from ansible_collections.aigov.core.plugins.module_utils.remediation.remediation import SOURCE_ACTOR
from tests.contracts import validate

DAY = '2026-11-20T'


def at(clock):
    return DAY + clock + '+00:00'


class Log(object):
    """Appends the entries the collection writes, with the shapes its writers use."""

    def __init__(self, path):
        self.path = str(path)

    def decision(self, clock, fp, decision, owner='team-a', tier='minimal', starts='08:00:00', exceptions=(), status='firing'):
        return audit_log.append(self.path, SOURCE_ACTOR, 'decision', 'model_server:%s' % fp, owner,
                                'refused' if decision == 'reject' else 'planned', ['why'],
                                dict(fingerprint=fp, name='ModelServerDown', status=status, decision=decision,
                                     risk_tier=tier, confidence=0.9, known=True, policy='default', received_at=at(clock),
                                     starts_at=at(starts) if starts else None, exceptions=list(exceptions)),
                                now=at(clock))

    def start(self, clock, fp, received, decision='automate', owner='team-a', tier='minimal', starts='08:00:00',
              remediation='restart_model_server'):
        return audit_log.append(self.path, 'ops', 'remediation.start', 'model_server:%s' % fp, owner, 'planned', ['go'],
                                dict(remediation=remediation, target='gpu-1', decision=decision, fingerprint=fp,
                                     approval=None, risk_tier=tier, starts_at=at(starts) if starts else None,
                                     received_at=at(received), plan_ms=4.0), now=at(clock))

    def outcome(self, clock, fp, outcome='success', owner='team-a', starts='08:00:00', remediation='restart_model_server',
                decision='automate'):
        return audit_log.append(self.path, 'ops', 'remediation.outcome', 'model_server:%s' % fp, owner, outcome, ['done'],
                                dict(remediation=remediation, target='gpu-1', decision=decision, fingerprint=fp,
                                     approval=None, starts_at=at(starts) if starts else None), now=at(clock))

    def refused(self, clock, fp):
        return audit_log.append(self.path, 'ops', 'remediation.refused', 'model_server:%s' % fp, 'team-a', 'refused',
                                ['the decision is not in the audit log'], dict(fingerprint=fp, approval=None), now=at(clock))

    def approval(self, clock, fp, verdict, proposed='review', owner='team-b'):
        return audit_log.append(self.path, 'alice', 'approval.decision', 'model_server:%s' % fp, owner,
                                'success' if verdict == 'approve' else 'refused', ['alice'],
                                dict(request='r-' + fp, verdict=verdict, fingerprint=fp, proposed_decision=proposed,
                                     proposed_action='restart_model_server', override=verdict == 'deny', run_by='ops'),
                                now=at(clock))

    def rotation(self, clock, action='rotate', outcome='success', owner='team-a'):
        return audit_log.append(self.path, 'ops', 'agent_secret.%s' % action, 'agent-1', owner, outcome, ['max_age'],
                                dict(path='agents/agent-1', old_fingerprint='hmac-sha256:%016d' % 1), now=at(clock))

    def escalation(self, clock, fp, outcome='success'):
        return audit_log.append(self.path, 'ops', 'escalation.notify', 'model_server:%s' % fp, 'sec-team', outcome,
                                ['why'], dict(fingerprint=fp, decision='escalate', http_status=200), now=at(clock))


@pytest.fixture
def log(tmp_path):
    return Log(tmp_path / 'audit.jsonl')


def scenario(log):
    """Five incidents: two automated and repaired (60 s and 300 s), one reviewed and denied, one reviewed,
    approved and repaired (1200 s), one escalated in a freeze; one reject; one refused forgery; rotations."""
    log.decision('08:00:05', 'a', 'automate', starts='08:00:00')
    log.start('08:00:06', 'a', '08:00:05', starts='08:00:00')
    log.outcome('08:01:00', 'a', starts='08:00:00')                            # 60 s
    log.decision('09:00:05', 'b', 'automate', owner='team-b', tier='limited', starts='09:00:00')
    log.start('09:00:06', 'b', '09:00:05', owner='team-b', tier='limited', starts='09:00:00', remediation='rebind_loopback')
    log.outcome('09:02:00', 'b', 'failure', owner='team-b', starts='09:00:00')
    log.outcome('09:05:00', 'b', owner='team-b', starts='09:00:00')            # 300 s (the first success counts)
    log.outcome('09:06:00', 'b', owner='team-b', starts='09:00:00')            # a second success: not a second repair
    log.decision('10:00:05', 'c', 'review', tier='high', starts='10:00:00')
    log.approval('10:10:00', 'c', 'deny')
    log.decision('11:00:05', 'd', 'review', tier='high', starts='11:00:00')
    log.approval('11:10:00', 'd', 'approve')
    log.start('11:10:01', 'd', '11:00:05', decision='review', tier='high', starts='11:00:00')
    log.outcome('11:20:00', 'd', starts='11:00:00', decision='review')         # 1200 s
    log.decision('12:00:05', 'e', 'escalate', owner='sec-team', tier='high', starts='12:00:00', exceptions=['freeze'])
    log.escalation('12:00:07', 'e')
    log.decision('13:00:05', 'f', 'reject', owner=None, tier=None, exceptions=['unknown_asset'])
    log.refused('13:30:00', 'x')
    log.rotation('14:00:00')
    log.rotation('14:05:00', action='create', owner='team-b')
    log.rotation('14:10:00', outcome='failure')


def test_every_kpi_of_a_known_log(log):
    scenario(log)
    report = governance_kpis.compute(log.path, now=governance_kpis.parse_time(at('15:00:00'), 'now'))
    validate(report, 'governance-report.v1.json')
    kpis = report['kpis']
    assert report['chain']['ok'] and report['chain']['last_seq'] == 21
    # intact as far as it goes, but without an anchor a cut end cannot be seen: never called trustworthy
    assert (report['trusted'], report['chain']['state'], report['chain']['sealed']) == (False, 'unanchored', None)
    assert report['log']['entries'] == report['log']['in_window'] == 21
    assert kpis['mttr'] == dict(count=3, unmeasured=0, median_s=300.0, p90_s=1200.0, mean_s=520.0, max_s=1200.0,
                                unremediated=2, unremediated_by_decision={'escalate': 1, 'review': 1}, by_decision=dict(
                                    # automated repairs and approved ones apart: the approval's wait is in the second
                                    automate=dict(count=2, median_s=180.0, p90_s=300.0, mean_s=180.0, max_s=300.0),
                                    review=dict(count=1, median_s=1200.0, p90_s=1200.0, mean_s=1200.0, max_s=1200.0)))
    assert kpis['automation'] == dict(rate=0.4, automated=2, actionable=5,
                                      decisions=dict(automate=2, review=2, escalate=1, reject=1))
    assert kpis['overrides'] == dict(rate=0.5, overrides=1, human_decisions=2,
                                     by_kind=dict(denied_review=1, approved_escalation=0, approved_reject=0, recorded=0))
    assert kpis['exceptions'] == dict(total=3, by_kind=dict(unknown_asset=1, out_of_scope=0, freeze=1, rate_limit=0,
                                                            blast_radius=0, remediation_refused=1, remediation_failed=0,
                                                            refusal_escalated=0, no_outcome=0, approval_expired=0,
                                                            still_firing=0))
    assert kpis['actions'] == dict(total=3, by_owner={'team-a': 2, 'team-b': 1},
                                   by_risk_tier={'high': 1, 'limited': 1, 'minimal': 1},
                                   by_remediation={'rebind_loopback': 1, 'restart_model_server': 2})
    assert kpis['outcomes'] == dict(succeeded=4, failed=1, rolled_back=0, refused=1)
    assert kpis['secret_rotations'] == dict(total=2, failed=1, by_action={'create': 1, 'rotate': 1},
                                            by_owner={'team-a': 1, 'team-b': 1})
    assert kpis['escalations'] == dict(notified=1, failed=0)
    assert report['groups'] == {} and report['group_by'] is None


def test_escalated_exits_of_remediations_are_counted_as_exceptions(log):
    scenario(log)
    log.decision('14:30:00', 'b', 'escalate', owner='sec-team', starts='09:00:00', exceptions=['remediation_failed'])
    log.decision('14:31:00', 'd', 'escalate', owner='sec-team', starts='11:00:00', exceptions=['no_outcome'])
    log.decision('14:32:00', 'c', 'escalate', owner='sec-team', starts='10:00:00', exceptions=['approval_expired'])
    by_kind = governance_kpis.compute(log.path)['kpis']['exceptions']['by_kind']
    assert (by_kind['remediation_failed'], by_kind['no_outcome'], by_kind['approval_expired'], by_kind['still_firing']) == (
        1, 1, 1, 0)


def test_window_boundaries_include_since_and_exclude_until(log):
    scenario(log)
    # [09:00:05, 11:00:05): incident b and c; the decision at exactly 11:00:05 is out, the one at 09:00:05 is in
    report = governance_kpis.compute(log.path, since=at('09:00:05'), until=at('11:00:05'))
    assert report['log']['in_window'] == 7 and report['log']['entries'] == 21
    assert report['window'] == dict(since=at('09:00:05'), until=at('11:00:05'))
    assert report['kpis']['automation']['decisions'] == dict(automate=1, review=1, escalate=0, reject=0)
    assert report['kpis']['mttr']['count'] == 1 and report['kpis']['mttr']['median_s'] == 300.0
    assert report['kpis']['mttr']['unremediated'] == 1  # c was denied
    # a date is its midnight UTC, a naive time is UTC
    assert governance_kpis.compute(log.path, since='2026-11-21')['log']['in_window'] == 0
    assert governance_kpis.compute(log.path, until='2026-11-20T08:00:06')['log']['in_window'] == 1


def test_an_outcome_in_the_window_counts_its_repair_from_the_alert_start_before_it(log):
    scenario(log)
    report = governance_kpis.compute(log.path, since=at('11:15:00'), until=at('12:00:00'))
    assert report['kpis']['mttr']['count'] == 1 and report['kpis']['mttr']['max_s'] == 1200.0


def test_grouping_by_owner_and_by_day(log):
    scenario(log)
    by_owner = governance_kpis.compute(log.path, group_by='owner')
    validate(by_owner, 'governance-report.v1.json')
    assert sorted(by_owner['groups']) == ['(none)', 'sec-team', 'team-a', 'team-b']
    assert by_owner['groups']['team-b']['mttr']['count'] == 1 and by_owner['groups']['team-b']['mttr']['median_s'] == 300.0
    assert by_owner['groups']['team-b']['automation']['rate'] == 1.0
    assert by_owner['groups']['sec-team']['automation'] == dict(rate=0.0, automated=0, actionable=1, decisions=dict(
        automate=0, review=0, escalate=1, reject=0))
    by_tier = governance_kpis.compute(log.path, group_by='risk_tier')
    # the approval entries carry no tier: they take their decision's
    assert by_tier['groups']['high']['overrides']['human_decisions'] == 2
    by_day = governance_kpis.compute(log.path, group_by='day')
    assert list(by_day['groups']) == ['2026-11-20'] and by_day['groups']['2026-11-20'] == by_day['kpis']
    assert list(governance_kpis.compute(log.path, group_by='week')['groups']) == ['2026-W47']


def test_empty_log_has_no_rates(tmp_path):
    path = tmp_path / 'audit.jsonl'
    path.write_text('')
    report = governance_kpis.compute(str(path))
    validate(report, 'governance-report.v1.json')
    assert report['chain']['state'] == 'unanchored' and report['log']['entries'] == 0
    assert report['kpis']['mttr'] == dict(count=0, unmeasured=0, median_s=None, p90_s=None, mean_s=None, max_s=None,
                                          unremediated=0, unremediated_by_decision={}, by_decision=dict(
                                              (name, dict(count=0, median_s=None, p90_s=None, mean_s=None, max_s=None))
                                              for name in ('automate', 'review')))
    assert report['kpis']['automation']['rate'] is None and report['kpis']['overrides']['rate'] is None


def test_log_without_alerts_counts_rotations_only(log):
    log.rotation('14:00:00')
    kpis = governance_kpis.compute(log.path)['kpis']
    assert kpis['secret_rotations']['total'] == 1 and kpis['automation']['actionable'] == 0 and kpis['mttr']['count'] == 0


def test_unremediated_alerts_are_counted_apart_and_once_per_incident(log):
    log.decision('08:00:05', 'a', 'automate')
    log.decision('08:30:05', 'a', 'automate')       # Alertmanager repeats the same firing alert
    log.start('08:30:06', 'a', '08:30:05')
    log.outcome('08:31:00', 'a', 'failure')
    log.decision('09:00:05', 'b', 'review', starts='09:00:00')
    kpis = governance_kpis.compute(log.path)['kpis']
    assert kpis['mttr']['count'] == 0
    assert kpis['mttr']['unremediated'] == 2 and kpis['mttr']['unremediated_by_decision'] == {'automate': 1, 'review': 1}
    assert kpis['automation'] == dict(rate=0.3333, automated=1, actionable=3,
                                      decisions=dict(automate=2, review=1, escalate=0, reject=0))


def test_resolved_alerts_and_outcomes_without_a_start_time(log):
    log.decision('08:00:05', 'a', 'automate', status='resolved')
    log.outcome('08:01:00', 'z', starts=None)       # written before outcomes carried starts_at
    kpis = governance_kpis.compute(log.path)['kpis']
    assert kpis['automation']['decisions']['automate'] == 0
    assert kpis['mttr']['count'] == 0 and kpis['mttr']['unmeasured'] == 1


def test_overrides_of_escalations_and_recorded_ones(log):
    log.approval('08:00:00', 'a', 'approve', proposed='escalate')
    log.approval('08:01:00', 'b', 'approve', proposed='review')
    audit_log.append(log.path, 'bob', 'remediation.manual', 'model_server:c', 'team-a', 'success', ['by hand'],
                     dict(fingerprint='c', override=True), now=at('08:02:00'))
    audit_log.append(log.path, 'bob', 'remediation.manual', 'model_server:d', 'team-a', 'success', ['as proposed'],
                     dict(fingerprint='d', override=False), now=at('08:03:00'))
    overrides = governance_kpis.compute(log.path)['kpis']['overrides']
    assert overrides == dict(rate=0.5, overrides=2, human_decisions=4,
                             by_kind=dict(denied_review=0, approved_escalation=1, approved_reject=0, recorded=1))


def test_exceptions_count_every_limit_a_decision_hit(log):
    log.decision('08:00:05', 'a', 'escalate', exceptions=['freeze', 'rate_limit', 'blast_radius'])
    log.decision('08:00:06', 'b', 'reject', exceptions=['out_of_scope'])
    log.decision('08:00:07', 'c', 'automate')
    exceptions = governance_kpis.compute(log.path)['kpis']['exceptions']
    assert exceptions == dict(total=4, by_kind=dict(unknown_asset=0, out_of_scope=1, freeze=1, rate_limit=1,
                                                    blast_radius=1, remediation_refused=0, remediation_failed=0,
                                                    refusal_escalated=0, no_outcome=0, approval_expired=0, still_firing=0))


def _edit(path, number, change):
    with open(path) as handle:
        lines = handle.read().splitlines()
    lines[number - 1] = change(lines[number - 1])
    with open(path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def test_a_broken_chain_is_reported_and_the_kpis_labelled_untrustworthy(log):
    scenario(log)

    def forge(line):
        entry = json.loads(line)
        entry['outcome'] = 'success'  # a failure turned into a success, hash left as it was
        return json.dumps(entry)
    _edit(log.path, 6, forge)
    report = governance_kpis.compute(log.path)
    validate(report, 'governance-report.v1.json')
    assert report['trusted'] is False and report['chain']['ok'] is False
    assert report['chain']['problem']['kind'] == 'edited' and report['chain']['problem']['line'] == 6
    assert report['kpis']['outcomes']['succeeded'] == 5  # computed, but labelled


def test_a_deleted_entry_and_a_missing_anchor_break_trust(log):
    scenario(log)
    anchor = governance_kpis.compute(log.path)['chain']
    assert governance_kpis.compute(log.path, anchor=dict(seq=anchor['last_seq'], hash=anchor['last_hash']))['trusted']
    _edit(log.path, 3, lambda line: '')
    with open(log.path) as handle:
        kept = [line for line in handle.read().splitlines() if line]
    with open(log.path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in kept))
    report = governance_kpis.compute(log.path)
    assert report['trusted'] is False and report['chain']['problem']['kind'] == 'deleted'
    with open(log.path, 'w') as handle:  # the tail cut off: only the anchor notices
        handle.write(''.join(line + '\n' for line in kept[:1]))
    report = governance_kpis.compute(log.path, anchor=dict(seq=anchor['last_seq'], hash=anchor['last_hash']))
    assert report['trusted'] is False and report['chain']['problem']['kind'] == 'anchor'


@pytest.mark.parametrize('text, message', [
    ('{not json', 'line 3 is not an audit entry'),
    ('[1, 2]', 'line 3 is not an audit entry'),
    ('{"action": "x", "time": "yesterday"}', "line 3: time: 'yesterday' is not an ISO 8601"),
])
def test_a_malformed_line_is_an_error_naming_its_number(log, text, message):
    scenario(log)
    _edit(log.path, 3, lambda line: text)
    with pytest.raises(governance_kpis.GovernanceReportError, match=message):
        governance_kpis.compute(log.path)


@pytest.mark.parametrize('kwargs, message', [
    (dict(since='last week'), "since: 'last week' is not an ISO 8601"),
    (dict(since=at('10:00:00'), until=at('09:00:00')), 'must be before until'),
    (dict(group_by='colour'), 'group_by must be one of owner'),
])
def test_bad_options_are_named(log, kwargs, message):
    scenario(log)
    with pytest.raises(governance_kpis.GovernanceReportError, match=message):
        governance_kpis.compute(log.path, **kwargs)


def test_a_missing_log_is_an_error(tmp_path):
    with pytest.raises(audit_log.AuditLogError, match='cannot read audit log'):
        governance_kpis.compute(str(tmp_path / 'nope.jsonl'))


def test_html_page_is_self_contained_and_escapes_owners(log):
    from ansible_collections.aigov.core.plugins.module_utils.audit import governance_html
    from tests.unit.plugins.module_utils.reports.test_report_html import Page
    scenario(log)
    log.start('14:30:00', 'g', '14:29:00', owner='<script>alert(1)</script>')
    report = governance_kpis.compute(log.path, group_by='owner')
    text = governance_html.render_html(report)
    parsed = Page(text)
    assert parsed.scripts == [] and parsed.fetches == [] and '<script>' not in text
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in text and 'default-src &#x27;none&#x27;' in text
    for section in ('mttr', 'automation', 'overrides', 'exceptions', 'outcomes', 'actions-owner', 'groups', 'rotations'):
        assert parsed.ids.get(section) == 'section', section
    assert 'UNANCHORED' in parsed.text and 'CHAIN INTACT' not in parsed.text and 'UNTRUSTWORTHY' not in parsed.text
    anchored = governance_kpis.compute(log.path, anchor=dict(seq=report['chain']['last_seq'], hash=report['chain']['last_hash']))
    assert anchored['trusted'] and 'CHAIN INTACT AND ANCHORED' in Page(governance_html.render_html(anchored)).text
    assert '5.0 min' in parsed.text and '20.0 min' in parsed.text and '40.0 %' in parsed.text  # median, p90, automation


def test_html_of_a_broken_chain_says_untrustworthy_first(log):
    from ansible_collections.aigov.core.plugins.module_utils.audit import governance_html
    scenario(log)
    _edit(log.path, 2, lambda line: line.replace('"planned"', '"success"'))
    text = governance_html.render_html(governance_kpis.compute(log.path))
    assert 'UNTRUSTWORTHY' in text and text.index('UNTRUSTWORTHY') < text.index('MTTR')
    assert 'line 2 (seq 2) was edited' in text

"""The hourly action memory (alerts/budget.py): what counts, the last hour only, seeded from the audit log."""

import datetime

from ansible_collections.aigov.core.plugins.module_utils.alerts import budget
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)


def test_recent_automations_reads_the_last_hour_of_one_actor_from_the_end(tmp_path):
    log = str(tmp_path / 'audit.jsonl')
    rows = [(300, 'src', 'automate', 'a'), (59, 'src', 'automate', 'a'), (40, 'other', 'automate', 'a'),
            (30, 'src', 'review', 'a'), (20, 'src', 'automate', 'b'), (10, 'src', 'automate', 'a')]
    for minutes, actor, decision, subject in rows:
        audit_log.append(log, actor, 'decision', subject, None, 'planned', [], {'decision': decision},
                         now=(NOW - datetime.timedelta(minutes=minutes)).isoformat())
    with open(log, 'a') as handle:
        handle.write('not json\n')
    assert budget.recent_automations(log, 'src', NOW) == {'a': [600.0, 3540.0], 'b': [1200.0]}
    assert budget.recent_automations(str(tmp_path / 'none.jsonl'), 'src', NOW) == {}


def test_an_automate_decision_without_a_remediation_spends_nothing_and_an_hour_later_nothing_counts(tmp_path):
    log = str(tmp_path / 'audit.jsonl')
    memory = budget.ActionBudget(log, clock=lambda: 10000.0)
    memory.seed()  # no log yet: nothing counted, and seeded
    assert memory.seeded and memory.used('a', 10000.0) == 0
    memory.spend('a', {'decision': 'automate', 'remediation': None}, 10000.0)  # an unmapped alert
    memory.spend('a', {'decision': 'review', 'remediation': 'restart_model_server'}, 10000.0)
    assert memory.used('a', 10000.0) == 0
    memory.spend('a', {'decision': 'automate', 'remediation': 'restart_model_server'}, 10000.0)
    memory.spend('a', {'decision': 'automate'}, 10001.0)  # a decision of an earlier version names none: it counts
    assert memory.used('a', 10002.0) == 2 and memory.used('a', 10000.0 + budget.HOUR + 1) == 0


def test_a_restarted_source_starts_from_the_log(tmp_path):
    log = str(tmp_path / 'audit.jsonl')
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    for remediation in ('restart_model_server', None):
        audit_log.append(log, entries.SOURCE_ACTOR, entries.DECISION, 'model_server:1', None, 'planned', [],
                         {'decision': 'automate', 'remediation': remediation}, now=when.isoformat())
    memory = budget.ActionBudget(log, clock=lambda: 5000.0)
    memory.seed()
    assert memory.used('model_server:1', 5000.0) == 1

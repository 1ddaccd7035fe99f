"""The shipped rulebooks act only on the decision and hand playbooks nothing a sender wrote."""

import os
import re

import pytest
import yaml

from hack import rulebook_variants
from tests.conftest import ROOT

RULEBOOKS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')
NAMES = sorted(name for name in os.listdir(RULEBOOKS) if name.endswith('.yml'))


def load(name):
    with open(os.path.join(RULEBOOKS, name)) as handle:
        return yaml.safe_load(handle)


def test_the_rulebooks_are_shipped():
    assert NAMES == ['aiops_remediation.yml', 'aiops_remediation_aap.yml', 'aiops_remediation_persistent.yml']


def test_the_persistent_rulebook_is_the_local_one_with_feedback():
    """One source of rules: the shipped variant is exactly what hack/rulebook_variants.py writes from the base."""
    for name, text in rulebook_variants.expected().items():
        with open(os.path.join(RULEBOOKS, name)) as handle:
            assert handle.read() == text, '%s is stale: run .venv/bin/python hack/rulebook_variants.py' % name
    [base], [variant] = load('aiops_remediation.yml'), load('aiops_remediation_persistent.yml')
    assert variant['sources'][0]['aigov.core.aiops_alerts'].pop('feedback') is True
    assert 'feedback' not in base['sources'][0]['aigov.core.aiops_alerts']  # it would need --persistence-id
    assert variant.pop('name') != base.pop('name')
    assert variant == base


def test_a_hand_edit_of_the_base_shows_in_the_variant():
    with open(os.path.join(RULEBOOKS, 'aiops_remediation.yml')) as handle:
        text = handle.read()
    edited = rulebook_variants.persistent('aiops_remediation.yml', text.replace('aigov.core.escalate', 'aigov.core.other'))
    assert edited != rulebook_variants.expected()['aiops_remediation_persistent.yml']
    assert 'aigov.core.other' in edited
    with pytest.raises(rulebook_variants.VariantError, match='must not set feedback'):
        rulebook_variants.persistent('aiops_remediation.yml', text.replace(
            rulebook_variants.SOURCE_LINE, rulebook_variants.SOURCE_LINE + '        feedback: true\n'))


@pytest.mark.parametrize('name', NAMES)
def test_rules_act_only_on_the_decision_of_firing_alerts(name):
    [ruleset] = load(name)
    [source] = ruleset['sources']
    assert list(source) == ['name', 'aigov.core.aiops_alerts']
    decisions = []
    for rule in ruleset['rules']:
        condition = rule['condition']
        assert condition.startswith('event.alert.status == "firing" and event.decision.decision == '), condition
        assert not re.search(r'labels|annotations|event\.asset', condition)
        decisions.append(re.search(r'event\.decision\.decision == "(\w+)"', condition).group(1))
    assert sorted(decisions) == ['automate', 'escalate', 'reject', 'review']


@pytest.mark.parametrize('name', NAMES)
def test_actions_pass_no_event_data(name):
    """Playbooks read ansible_eda.event.payload_b64 themselves; no action argument templates the event."""
    [ruleset] = load(name)
    for rule in ruleset['rules']:
        text = yaml.safe_dump(rule['action'])
        assert 'event' not in text.replace('event source', ''), rule['name']


@pytest.mark.parametrize('name', ['aiops_remediation.yml', 'aiops_remediation_persistent.yml'])
def test_local_rulebook_runs_the_shipped_playbooks(name):
    [ruleset] = load(name)
    playbooks = sorted(rule['action']['run_playbook']['name'] for rule in ruleset['rules'] if 'run_playbook' in rule['action'])
    assert playbooks == ['aigov.core.escalate', 'aigov.core.remediate', 'aigov.core.request_approval']
    for name in playbooks:
        assert os.path.isfile(os.path.join(ROOT, 'playbooks', name.split('.')[-1] + '.yml'))


@pytest.mark.parametrize('playbook', ['remediate.yml', 'request_approval.yml', 'escalate.yml'])
def test_playbooks_read_only_the_payload_of_the_event(playbook):
    with open(os.path.join(ROOT, 'playbooks', playbook)) as handle:
        text = handle.read()
    uses = set(re.findall(r'ansible_eda\.event[\w.]*', text))
    assert uses == {'ansible_eda.event.payload_b64'}, uses

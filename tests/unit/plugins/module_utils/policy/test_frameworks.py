"""Framework references are facts: every reference of every bundled finding source names a
control of a shipped catalogue, with its exact title when it gives one."""

import glob
import os

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError, DataFileError
from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks, policy
from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret_findings

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
BUNDLED_PACKS = sorted(glob.glob(os.path.join(ROOT, 'policies', '*.yml')))
CATALOGUE_DIR = os.path.join(ROOT, 'frameworks')
# A made-up identifier in the style of each framework.
MADE_UP = {'nist-ai-rmf': 'GOVERN 9.9', 'nist-csf-2.0': 'PR.AA-99', 'owasp-llm-2025': 'LLM11:2025 Model Theft',
           'owasp-agentic-2026': 'ASI11 Agent Sprawl', 'eu-ai-act': 'Art. 999', 'iso-42001': 'A.6.2.99'}
# A real identifier with a title that is not the framework's.
WRONG_TITLE = {'nist-ai-rmf': 'MEASURE 2.7 AI systems are secure', 'nist-csf-2.0': 'PR.AA-03 Users are authenticated',
               'owasp-llm-2025': 'LLM06:2025 Excessive Agent', 'owasp-agentic-2026': 'ASI05 Unexpected Code Execution',
               'eu-ai-act': 'Art. 15 Cybersecurity', 'iso-42001': 'A.6.2.6 AI system monitoring'}


def _pack_with(tmp_path, pack_path, framework, reference):
    """A copy of a bundled pack whose first rule citing `framework` cites `reference` instead of its first control."""
    with open(pack_path) as handle:
        data = yaml.safe_load(handle)
    for rule in data['rules']:
        if framework in rule['references']:
            rule['references'][framework][0] = reference
            target = tmp_path / os.path.basename(pack_path)
            target.write_text(yaml.safe_dump(data, sort_keys=False))
            return str(target), rule['id']
    pytest.fail('%s cites no %s control, yet the case was generated from its citations'
                % (os.path.basename(pack_path), framework))


def _pack_frameworks():
    cases = []
    for path in BUNDLED_PACKS:
        with open(path) as handle:
            cited = set(f for rule in yaml.safe_load(handle)['rules'] for f in rule['references'])
        cases += [(path, framework) for framework in sorted(cited)]
    return cases


def test_every_bundled_pack_cites_only_catalogue_controls():
    assert BUNDLED_PACKS
    for path in BUNDLED_PACKS:
        policy.load_pack(path)  # raises, naming rule and reference, otherwise


@pytest.mark.parametrize('pack_path, framework', _pack_frameworks())
def test_a_made_up_identifier_in_a_bundled_pack_fails_the_load(tmp_path, pack_path, framework):
    path, rule_id = _pack_with(tmp_path, pack_path, framework, MADE_UP[framework])
    with pytest.raises(DataFileError) as caught:
        policy.load_pack(path)
    problems = [p for p in caught.value.problems if MADE_UP[framework] in p]
    assert len(problems) == 1 and rule_id in problems[0] and 'not in the' in problems[0], caught.value.problems


@pytest.mark.parametrize('pack_path, framework', _pack_frameworks())
def test_a_wrong_title_in_a_bundled_pack_fails_the_load(tmp_path, pack_path, framework):
    path, rule_id = _pack_with(tmp_path, pack_path, framework, WRONG_TITLE[framework])
    with pytest.raises(DataFileError) as caught:
        policy.load_pack(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert rule_id in problem and 'differs from the catalogue' in problem and framework in problem


def test_the_agent_secret_findings_cite_only_catalogue_controls():
    for kind, rule in sorted(agent_secret_findings.RULES.items()):
        frameworks.require_references(rule['references'], rule['rule_id'])


def test_a_wrong_agent_secret_reference_is_refused(monkeypatch):
    rule = dict(agent_secret_findings.RULES['stale'], references={'nist-csf-2.0': ['PR.AA-99']})
    monkeypatch.setitem(agent_secret_findings.RULES, 'stale', rule)
    with pytest.raises(AigovError, match="AIGOV-AS-001: references.nist-csf-2.0: 'PR.AA-99' is not in the"):
        agent_secret_findings.check_references()


# The 13 references the compliance review found wrong (issue 18), and what replaced them.
CORRECTIONS = [
    ('AIGOV-MS-001', 'nist-ai-rmf', 'MANAGE 2.4', None),
    ('AIGOV-MS-003', 'nist-ai-rmf', 'MANAGE 2.4', None),
    ('AIGOV-MS-011', 'nist-ai-rmf', 'MANAGE 2.4', 'MANAGE 4.1'),
    ('AIGOV-AG-001', 'nist-ai-rmf', 'MANAGE 2.4', 'MEASURE 2.7'),
    ('AIGOV-CR-004', 'nist-ai-rmf', 'GOVERN 1.6', 'MEASURE 2.7'),
    ('AIGOV-CR-005', 'nist-ai-rmf', 'GOVERN 1.6', 'MEASURE 2.7'),
    ('AIGOV-GV-003', 'nist-ai-rmf', 'MAP 4.1', 'GOVERN 1.3'),
    ('AIGOV-GV-005', 'eu-ai-act', 'Art. 10', None),
    ('AIGOV-GV-005', 'iso-42001', 'A.7.2', None),
    ('AIGOV-MS-010', 'owasp-llm-2025', 'LLM06:2025 Excessive Agency', None),
    ('AIGOV-MS-003', 'owasp-agentic-2026', 'ASI05 Unexpected Code Execution', 'ASI05 Unexpected Code Execution (RCE)'),
    ('AIGOV-AG-002', 'owasp-agentic-2026', 'ASI05 Unexpected Code Execution', 'ASI05 Unexpected Code Execution (RCE)'),
    ('AIGOV-AG-003', 'owasp-agentic-2026', 'ASI05 Unexpected Code Execution', 'ASI05 Unexpected Code Execution (RCE)'),
]


def _default_rules():
    with open(os.path.join(ROOT, 'policies', 'default.yml')) as handle:
        return dict((rule['id'], rule) for rule in yaml.safe_load(handle)['rules'])


@pytest.mark.parametrize('rule_id, framework, old, new', CORRECTIONS)
def test_the_reviewed_references_are_corrected(rule_id, framework, old, new):
    cited = _default_rules()[rule_id]['references'].get(framework, [])
    assert old not in cited
    if new:
        assert new in cited


def test_manage_2_4_is_cited_where_a_system_must_be_deactivated():
    assert 'MANAGE 2.4' in _default_rules()['AIGOV-GV-004']['references']['nist-ai-rmf']


def test_unauthenticated_endpoints_cite_authentication():
    rules = _default_rules()
    for rule_id in ('AIGOV-MS-001', 'AIGOV-VD-001', 'AIGOV-MS-004', 'AIGOV-MS-009'):
        assert 'PR.AA-03' in rules[rule_id]['references']['nist-csf-2.0'], rule_id

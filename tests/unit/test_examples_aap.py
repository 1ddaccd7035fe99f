"""examples/aap/controller_config.yml: AAP configuration as code that refers to what the playbooks really take.

The infra.aap_configuration collections cannot be installed here, so the structure
is checked against their variable format, and every survey variable against the
variables its playbook documents in its header.
"""

import os
import re

import pytest
import yaml

from tests.conftest import ROOT

CONFIG = os.path.join(ROOT, 'examples', 'aap', 'controller_config.yml')
PROJECT = os.path.join(ROOT, 'examples', 'aap', 'project')
SURVEY_TYPES = ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect')
RRULE = re.compile(r'^DTSTART(;TZID=[A-Za-z_/+-]+)?:\d{8}T\d{6}Z? RRULE:(FREQ=(MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY))(;[A-Z]+=[A-Z0-9,+-]+)*$')


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def documented_vars(playbook):
    """The variables a collection playbook lists in its header (`#   aigov_x   meaning`)."""
    with open(os.path.join(ROOT, 'playbooks', playbook)) as handle:
        header = [line for line in handle if line.startswith('#')]
    return set(re.findall(r'^#\s+((?:aigov|agent_secret_rotation)_[a-z_]+)\s', ''.join(header), re.M))


CONFIG_DATA = load(CONFIG)
TEMPLATES = dict((t['name'], t) for t in CONFIG_DATA['controller_templates'])


def test_templates_refer_to_the_project_and_its_playbooks():
    projects = set(p['name'] for p in CONFIG_DATA['controller_projects'])
    ees = set(e['name'] for e in CONFIG_DATA['controller_execution_environments'])
    assert set(TEMPLATES) == {'compliance_scan', 'enforce_baseline', 'rotate_agent_secrets', 'aigov remediate',
                              'aigov escalate'}
    for template in TEMPLATES.values():
        assert template['project'] in projects and template['execution_environment'] in ees
        playbook = load(os.path.join(PROJECT, template['playbook']))
        # The project playbook imports the collection playbook of the same name.
        assert playbook[0]['ansible.builtin.import_playbook'] == 'aigov.core.' + template['playbook'][:-4]


@pytest.mark.parametrize('name', ['compliance_scan', 'enforce_baseline', 'rotate_agent_secrets'])
def test_every_survey_variable_is_one_the_playbook_documents(name):
    template = TEMPLATES[name]
    assert template['survey_enabled'] is True
    spec = template['survey_spec']['spec']
    documented = documented_vars(name + '.yml')
    assert documented, 'no documented variables found in playbooks/%s.yml' % name
    for question in spec:
        assert question['variable'] in documented, '%s is not documented by playbooks/%s.yml' % (question['variable'], name)
        assert question['type'] in SURVEY_TYPES and question['question_name']
        if question['type'] == 'multiplechoice':
            assert question['default'] in question['choices']
    assert len(set(q['variable'] for q in spec)) == len(spec)


def test_the_aap_rulebook_finds_its_templates_and_they_take_the_event():
    """Default names in aiops_remediation_aap.yml exist here, prompt for variables (the event) and set only documented ones."""
    with open(os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', 'aiops_remediation_aap.yml')) as handle:
        rulebook = handle.read()
    workflows = dict((w['name'], w) for w in CONFIG_DATA['controller_workflows'])
    defaults = set(re.findall(r"default\('([^']+)'\)", rulebook)) - {'127.0.0.1', 'default', 'Default'}
    assert defaults == {'aigov remediate', 'aigov remediate after approval', 'aigov escalate'}
    for name in defaults:
        template = TEMPLATES.get(name) or workflows[name]
        assert template['ask_variables_on_launch'] is True and template['organization'] == 'Default'
        if name in TEMPLATES:
            assert set(template.get('extra_vars', {})) <= documented_vars(template['playbook'])
    [approval, remediate] = workflows['aigov remediate after approval']['workflow_nodes']
    assert approval['unified_job_template']['type'] == 'workflow_approval'
    assert approval['related']['success_nodes'] == [{'identifier': remediate['identifier']}]
    assert remediate['unified_job_template']['name'] == 'aigov remediate'


def test_fail_on_choices_are_the_engine_severities():
    from ansible_collections.aigov.core.plugins.module_utils.policy.policy import SEVERITIES
    [fail_on] = [q for q in TEMPLATES['compliance_scan']['survey_spec']['spec'] if q['variable'] == 'aigov_fail_on']
    assert fail_on['choices'] == ['none'] + list(SEVERITIES)


def test_schedules_run_a_template_with_a_valid_rrule():
    schedules = CONFIG_DATA['controller_schedules']
    assert schedules
    for schedule in schedules:
        assert schedule['unified_job_template'] in TEMPLATES
        assert RRULE.match(schedule['rrule']), schedule['rrule']
        assert set(schedule.get('extra_data', {})) <= documented_vars(schedule['unified_job_template'] + '.yml')
        try:
            from dateutil import rrule, tz
        except ImportError:
            continue  # the regex above still checked it
        # AAP separates DTSTART and RRULE with a space; dateutil wants a line break.
        rule = rrule.rrulestr(schedule['rrule'].replace(' RRULE:', '\nRRULE:'), tzinfos={'UTC': tz.UTC})
        first, second = rule[0], rule[1]
        assert (second - first).days == 1 and first.hour == 3


def test_eda_activation_runs_a_shipped_rulebook_with_its_variables_and_secrets_from_credentials():
    eda = load(os.path.join(ROOT, 'examples', 'aap', 'eda_config.yml'))
    [activation] = eda['eda_rulebook_activations']
    path = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', activation['rulebook'])
    with open(path) as handle:
        used = set(re.findall(r'\b(aigov_[a-z_]+)\b', handle.read()))
    assert activation['project'] in [p['name'] for p in eda['eda_projects']]
    assert activation['decision_environment'] in [d['name'] for d in eda['eda_decision_environments']]
    credentials = dict((c['name'], c) for c in eda['eda_credentials'])
    types = dict((t['name'], t) for t in eda['eda_credential_types'])
    assert set(activation['eda_credentials']) <= set(credentials)
    assert 'extra_vars' not in activation   # every variable from a credential (eda_config.yml's header)
    for credential in credentials.values():
        kind = types.get(credential['credential_type'])
        if kind:   # a custom type: it injects variables the rulebook reads, or the decision key file
            fields = dict((f['id'], f) for f in kind['inputs']['fields'])
            assert set(kind['injectors'].get('extra_vars') or {}) <= used
            assert set(credential['inputs']) <= set(fields)
            assert all(f.get('secret') for name, f in fields.items() if re.search(r'token|secret|key', name))
    with open(os.path.join(ROOT, 'examples', 'decision-environment.yml')) as handle:
        de = yaml.safe_load(handle)
    assert [c['name'] for c in de['dependencies']['galaxy']['collections']] == ['aigov.core']


def test_rotation_template_gets_its_backend_from_a_credential_not_extra_vars():
    template = TEMPLATES['rotate_agent_secrets']
    credentials = dict((c['name'], c) for c in CONFIG_DATA['controller_credentials'])
    types = dict((t['name'], t) for t in CONFIG_DATA['controller_credential_types'])
    [bao] = [credentials[name] for name in template['credentials'] if credentials[name]['credential_type'] in types
             and 'BAO_ADDR' in types[credentials[name]['credential_type']]['injectors']['env']]
    injected = types[bao['credential_type']]['injectors']['env']
    assert {'BAO_ADDR', 'BAO_TOKEN'} <= set(injected)  # what aigov.core.agent_secret reads from the environment
    assert [f for f in types[bao['credential_type']]['inputs']['fields'] if f['id'] == 'token'][0]['secret'] is True
    assert 'agent_secret_rotation_backend' not in documented_vars('rotate_agent_secrets.yml') or all(
        q['variable'] != 'agent_secret_rotation_backend' for q in template['survey_spec']['spec'])


def test_every_job_and_the_activation_get_the_database_from_a_credential_not_extra_vars():
    """The PostgreSQL connection (docs/fleet-scale.md) comes from the aigov.core PostgreSQL credential type: the password
    a secret field injected as PGPASSWORD, AIGOV_DATABASE=postgresql:// (libpq variables); no store path in extra vars."""
    eda = yaml.safe_load(open(os.path.join(ROOT, 'examples', 'aap', 'eda_config.yml')))
    for types, credentials in ((CONFIG_DATA['controller_credential_types'], CONFIG_DATA['controller_credentials']),
                               (eda['eda_credential_types'], eda['eda_credentials'])):
        [kind] = [t for t in types if t['name'] == 'aigov.core PostgreSQL']
        env = kind['injectors']['env']
        assert env['AIGOV_DATABASE'] == 'postgresql://' and 'PGPASSWORD' in env and 'extra_vars' not in kind['injectors']
        assert [f for f in kind['inputs']['fields'] if f['id'] == 'password'][0]['secret'] is True
        assert [c['inputs']['password'] for c in credentials if c['credential_type'] == kind['name']] == [
            '{{ vault_aigov_db_password }}']
    for name in ('compliance_scan', 'rotate_agent_secrets', 'aigov remediate', 'aigov escalate'):
        assert 'aigov PostgreSQL' in TEMPLATES[name]['credentials'], name
        assert not set(TEMPLATES[name].get('extra_vars') or {}) & {'aigov_store_path', 'aigov_audit_log'}, name
    [activation] = eda['eda_rulebook_activations']
    assert 'aigov PostgreSQL' in activation['eda_credentials']

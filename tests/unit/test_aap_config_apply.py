"""examples/aap/ applies as a user copies it: every object through the peers that apply and run it.

tests/aap_peers.py reproduces each step from the peers' own code: infra.aap_configuration's role
expressions templated by the real ansible-core, the modules' argument specs (awx.awx from the
`ansible` wheel, ansible.eda pinned), AWX's and eda-server's credential injection; the EDA side of
tests/aap_controller.py refuses what eda-server refuses.
"""

import os
import re
import stat

import pytest
import yaml

from tests import aap_peers
from tests.aap_controller import EdaActivations
from tests.conftest import ROOT

AAP = os.path.join(ROOT, 'examples', 'aap')
FILES = [os.path.join(AAP, 'controller_config.yml'), os.path.join(AAP, 'eda_config.yml')]
KEY = 'k1:' + 'ab' * 32 + '\n'


def secrets_named(paths):
    names = set()
    for path in paths:
        with open(path) as handle:
            names |= set(re.findall(r'\{\{\s*(vault_\w+)\s*\}\}', handle.read()))
    return dict((name, KEY if 'decision_keys' in name else 'fake-' + name) for name in sorted(names))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope='module')
def applied():
    """{role: [(module args as the role builds them, what the module sees, errors)]}."""
    rendered = aap_peers.render(FILES, secrets_named(FILES))
    result = {}
    for role, items in rendered.items():
        module = aap_peers.ROLES['roles'][role]['module']
        result[role] = [(args,) + tuple(reversed(aap_peers.validate(module, args))) for args in items]
    return result


def seen(applied, role, name):
    return [entry[1] for entry in applied[role] if entry[0]['name'] == name][0]


CONFIG = dict((os.path.basename(path), load(path)) for path in FILES)
OBJECTS = [(role, item['name']) for config in CONFIG.values() for role, table in aap_peers.ROLES['roles'].items()
           for item in config.get(table['var']) or []]


def test_every_shipped_variable_is_one_the_dispatcher_reads():
    read = set(table['var'] for table in aap_peers.ROLES['roles'].values())
    for name, config in CONFIG.items():
        assert set(config) - {'aigov_aap_prerequisites'} <= read, name


@pytest.mark.parametrize('role,name', OBJECTS)
def test_the_module_accepts_what_the_role_builds(applied, role, name):
    [errors] = [entry[2] for entry in applied[role] if entry[0]['name'] == name]
    assert errors == [], '%s %r -> %s: %s' % (role, name, aap_peers.ROLES['roles'][role]['module'], errors)


@pytest.mark.parametrize('role,name', OBJECTS)
def test_no_key_of_an_object_is_dropped_by_its_role(role, name):
    var = aap_peers.ROLES['roles'][role]['var']
    [item] = [i for config in CONFIG.values() for i in config.get(var) or [] if i['name'] == name]
    assert aap_peers.item_keys_dropped(role, item) == []


def test_every_reference_is_defined_or_a_named_prerequisite():
    for config in CONFIG.values():
        pre = config['aigov_aap_prerequisites']

        def names(var, config=config):
            return set(i['name'] for i in config.get(var) or [])
        orgs = set(pre['organizations'])
        for var in [t['var'] for t in aap_peers.ROLES['roles'].values()]:
            for item in config.get(var) or []:
                if 'organization' in item and isinstance(item['organization'], str):
                    assert item['organization'] in orgs, (var, item['name'])
        ctypes = names('controller_credential_types') | names('eda_credential_types') | set(pre['credential_types'])
        for cred in (config.get('controller_credentials') or []) + (config.get('eda_credentials') or []):
            assert cred['credential_type'] in ctypes, cred['name']
        for template in config.get('controller_templates') or []:
            assert template['inventory'] in names('controller_inventories')
            assert template['project'] in names('controller_projects')
            assert template['execution_environment'] in names('controller_execution_environments')
            assert set(template.get('credentials') or []) <= names('controller_credentials'), template['name']
        for project in config.get('controller_projects') or []:
            assert project['default_environment'] in names('controller_execution_environments')
        for schedule in config.get('controller_schedules') or []:
            assert schedule['unified_job_template'] in names('controller_templates')
        for workflow in config.get('controller_workflows') or []:
            for node in workflow['workflow_nodes']:
                ujt = node['unified_job_template']
                assert ujt.get('type') == 'workflow_approval' or ujt['name'] in names('controller_templates')
        for activation in config.get('eda_rulebook_activations') or []:
            assert activation['project'] in names('eda_projects')
            assert activation['decision_environment'] in names('eda_decision_environments')
            assert set(activation['eda_credentials']) <= names('eda_credentials')


def test_both_files_state_the_peer_version_and_no_playbook_that_does_not_exist():
    for path in FILES:
        with open(path) as handle:
            assert 'infra.aap_configuration 3.1 or later' in handle.read()
    for folder in ('docs', 'examples'):
        for base, _dirs, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                with open(os.path.join(base, name), errors='replace') as handle:
                    assert 'aap_configuration_dispatch' not in handle.read(), os.path.join(base, name)


# ---- AWX: credential types as AWX validates them, credentials injected as a job gets them ------

def awx_types(applied):
    return dict((args['name'], {'inputs': seen_['inputs'], 'injectors': seen_['injectors']})
                for args, seen_, _errors in applied['controller_credential_types'])


def test_controller_credential_types_pass_awx_validation(applied):
    for name, ctype in awx_types(applied).items():
        assert aap_peers.awx_validate_type(ctype['inputs'], ctype['injectors']) == [], name


def test_openbao_without_a_ca_uses_the_system_cas_and_with_one_its_file(applied, tmp_path, monkeypatch):
    from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
    from ansible_collections.aigov.core.plugins.module_utils.secrets import _secret_backend_options as options
    ctype = awx_types(applied)['OpenBao token (aigov)']
    inputs = seen(applied, 'controller_credentials', 'OpenBao agent rotator')['inputs']
    env, _files, extra = aap_peers.awx_inject(ctype, inputs, str(tmp_path))
    assert extra == {} and env['BAO_ADDR'] == 'https://bao.example.com:8200' and env['BAO_CACERT'] == ''
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    backend = options.open_backend(OptionAdapter.from_dict({}))
    assert backend._verify is True   # the system CAs, not an empty CA file
    env, files, _extra = aap_peers.awx_inject(ctype, dict(inputs, ca_cert='-----BEGIN CERTIFICATE-----\n'), str(tmp_path))
    assert env['BAO_CACERT'] == files['ca_cert'] and open(files['ca_cert']).read().startswith('-----BEGIN')


def test_the_decision_key_reaches_the_job_as_a_private_file(applied, tmp_path):
    from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys
    ctype = awx_types(applied)['aigov decision key']
    inputs = seen(applied, 'controller_credentials', 'aigov decision key')['inputs']
    env, files, _extra = aap_peers.awx_inject(ctype, inputs, str(tmp_path))
    path = env['AIGOV_DECISION_KEY_FILE']
    assert path == files['decision_keys'] and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert decision_keys.load(path).seal({'actor': 'x', 'action': 'decision'})['details']['seal'].startswith('hmac-sha256:k1:')
    templates = dict((t['name'], t) for t in CONFIG['controller_config.yml']['controller_templates'])
    for name in ('aigov remediate', 'aigov escalate'):
        assert 'aigov decision key' in templates[name]['credentials'], name


def test_the_aap_credential_gives_remediation_plan_a_verified_controller(applied, monkeypatch, tmp_path):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.aigov.core.plugins.action.remediation_plan import ActionModule
    inputs = seen(applied, 'controller_credentials', 'aigov controller')['inputs']
    env, _files, _extra = aap_peers.awx_inject(aap_peers.AAP_CREDENTIAL_TYPE, inputs, str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(ActionModule.ARGUMENT_SPEC, mutually_exclusive=ActionModule.MUTUALLY_EXCLUSIVE
                                   ).validate({'payload': 'x'})
    assert [str(e) for e in result.errors] == []
    args = result.validated_parameters
    assert args['controller_host'] == 'https://aap.example.com' and args['controller_oauthtoken']
    assert args['validate_certs'] is True   # AWX injects False for an unset verify_ssl
    templates = dict((t['name'], t) for t in CONFIG['controller_config.yml']['controller_templates'])
    assert 'aigov controller' in templates['aigov remediate']['credentials']   # the review path needs it


# ---- EDA: types and credentials as eda-server validates them, the activation's variables --------

def eda_types(applied):
    return dict((args['name'], {'inputs': s['inputs'], 'injectors': s['injectors']})
                for args, s, _errors in applied['eda_credential_types'])


def test_eda_credential_types_and_credentials_pass_eda_server_validation(applied):
    types = eda_types(applied)
    for name, ctype in types.items():
        assert aap_peers.eda_validate_type(ctype['inputs'], ctype['injectors']) == [], name
    for args, module_sees, _errors in applied['eda_credentials']:
        if args['credential_type_name'] in types:
            assert aap_peers.eda_validate_inputs(types[args['credential_type_name']]['inputs'], module_sees['inputs']) == []


def activation_injections(applied):
    """(extra vars, environment names) the activation gets from its credentials, as eda-server builds them."""
    types = eda_types(applied)
    creds = dict((a['name'], s) for a, s, _e in applied['eda_credentials'])
    [activation] = [s for _a, s, _e in applied['eda_rulebook_activations']]
    extra, env, secret = {}, set(), set()
    for name in activation['eda_credentials']:
        ctype = types.get(creds[name]['credential_type_name'])
        if ctype is None:   # the managed AAP credential: the controller URL and token of run_job_template
            continue
        extra.update(aap_peers.eda_activation_extra_vars(ctype, creds[name]['inputs']))
        env |= set((ctype['injectors'].get('env') or {}))
        secret |= set(f['id'] for f in ctype['inputs']['fields'] if f.get('secret'))
    return activation, extra, env, secret


def test_the_activation_gets_every_variable_its_rulebook_needs_from_credentials(applied):
    activation, extra, env, _secret = activation_injections(applied)
    assert activation.get('extra_vars') is None   # none given: see eda_config.yml's header
    with open(os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', activation['rulebook_name'])) as handle:
        rulebook = handle.read()
    required = set(re.findall(r'\{\{ (aigov_\w+) \}\}', rulebook))   # used without a default
    assert required <= set(extra), required - set(extra)
    assert set(extra) <= set(re.findall(r'\b(aigov_\w+)\b', rulebook))
    assert 'AIGOV_DECISION_KEY_FILE' in env and extra['aigov_token']


def eda_ids(activation):
    ids = {'rulebook': 1, 'decision_environment': 2, 'organization': 3}
    ids.update(('credential:' + name, i + 10) for i, name in enumerate(activation['eda_credentials']))
    return ids


def test_a_second_apply_of_the_activation_changes_nothing(applied):
    activation, extra, _env, secret = activation_injections(applied)
    api = EdaActivations({}, aap_peers.EDA['rulebook_activation_updatable_fields'])
    assert api.apply(activation, eda_ids(activation), extra, secret) == (True, 201)
    assert api.apply(activation, eda_ids(activation), extra, secret) == (False, 200)


def test_activation_extra_vars_would_never_settle_and_eda_refuses_the_update():
    """The seeded mistake of issue 14, as a string (the module's type) and as a mapping."""
    api = EdaActivations({}, aap_peers.EDA['rulebook_activation_updatable_fields'])
    activation = {'name': 'a', 'eda_credentials': ['c'], 'extra_vars': 'aigov_port: 5000\n', 'state': 'present'}
    ids = {'rulebook': 1, 'decision_environment': 2, 'organization': 3, 'credential:c': 10}
    assert api.apply(activation, ids, {'aigov_token': 'secret'}, {'aigov_token'}) == (True, 201)
    assert api.apply(activation, ids, {'aigov_token': 'secret'}, {'aigov_token'}) == (True, 409)
    errors, _seen = aap_peers.validate('ansible.eda.rulebook_activation', dict(activation, extra_vars={'aigov_port': 5000}))
    assert errors == ['extra_vars is a dict, the module takes a string']
    assert api.post({'name': 'b', 'extra_var': {'a': 1}}, {})[0] == 400
    assert api.post({'name': 'b', 'extra_vars': 'a: 1'}, {})[0] == 400

"""The peers that apply and run examples/aap/: their argument specs, their templating, their injectors.

AAP cannot run here, so each step a shipped object goes through is reproduced from the peer's own
code or files:

- infra.aap_configuration's roles build module arguments from each item: the expressions of its
  task files (pinned in tests/fixtures/aap_peers/infra_aap_configuration.yml) are rendered by the
  real ansible-core (2.19) over the example file given as extra vars, as the dispatcher would;
- the module arguments are checked with ansible-core's ArgumentSpecValidator against the modules'
  argument specs: awx.awx's read from the `ansible` wheel on PyPI (.cache/peer-wheels, see
  hack/requirements/peer-wheels.txt), ansible.eda's from a pinned copy
  (tests/fixtures/aap_peers/ansible_eda.yml); a str option given a mapping or a list fails too
  (AnsibleModule would convert it with a warning, and the object would differ on every run);
- credential injectors run as AWX does (awx_plugins.interfaces._temporary_private_inject:
  sandboxed Jinja2, a missing input renders empty, files under tower.filename) and as eda-server
  does (aap_eda/core/utils/strings.py and credentials.py: NativeTemplate with StrictUndefined,
  files under eda.filename).
"""

import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
import zipfile

import jinja2
import yaml
from jinja2.nativetypes import NativeTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.conftest import ROOT

PEERS = os.path.join(ROOT, 'tests', 'fixtures', 'aap_peers')
WHEELS = os.path.join(ROOT, '.cache', 'peer-wheels')
AWX = 'ansible_collections/awx/awx/'


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


ROLES = load_yaml(os.path.join(PEERS, 'infra_aap_configuration.yml'))
EDA = load_yaml(os.path.join(PEERS, 'ansible_eda.yml'))


class PeerMissing(AssertionError):
    pass


def ansible_wheel():
    found = sorted(glob.glob(os.path.join(WHEELS, 'ansible-[0-9]*.whl')))
    if not found:
        raise PeerMissing('no ansible wheel in %s: run `make test` (it downloads hack/requirements/peer-wheels.txt)' % WHEELS)
    return zipfile.ZipFile(found[-1])


def awx_version():
    with ansible_wheel() as wheel:
        return json.loads(wheel.read(AWX + 'MANIFEST.json'))['collection_info']['version']


# ---- awx.awx argument specs, read from the module source in the wheel -------------------------

def _evaluate(node, scope):
    """A literal-only evaluator for argument_spec = dict(...) and the module constants it names."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_evaluate(item, scope) for item in node.elts]
    if isinstance(node, ast.Dict):
        return dict((_evaluate(k, scope), _evaluate(v, scope)) for k, v in zip(node.keys, node.values))
    if isinstance(node, ast.Name):
        if node.id == 'env_fallback':
            return env_fallback
        if node.id in scope:
            return _evaluate(scope[node.id], scope)
        raise ValueError('cannot resolve name %s' % node.id)
    if isinstance(node, ast.Call):
        args = [_evaluate(arg, scope) for arg in node.args]
        kwargs = dict((kw.arg, _evaluate(kw.value, scope)) for kw in node.keywords if kw.arg)
        if isinstance(node.func, ast.Name) and node.func.id == 'dict':
            return dict(*args, **kwargs)
        if isinstance(node.func, ast.Name) and node.func.id in ('list', 'sorted'):
            return list(args[0]) if node.func.id == 'list' else sorted(args[0])
        if isinstance(node.func, ast.Attribute) and node.func.attr in ('keys', 'values'):
            return list(getattr(_evaluate(node.func.value, scope), node.func.attr)())
    raise ValueError('not a literal: %s' % ast.dump(node)[:120])


def _assignments(tree):
    scope = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            scope.setdefault(node.targets[0].id, node.value)
    return scope


def awx_argspec(module):
    """(argument_spec, extra) of awx.awx.<module>: main()'s argument_spec plus ControllerModule.AUTH_ARGSPEC."""
    with ansible_wheel() as wheel:
        source = wheel.read(AWX + 'plugins/modules/%s.py' % module).decode()
        api = wheel.read(AWX + 'plugins/module_utils/controller_api.py').decode()
    tree = ast.parse(source)
    main = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == 'main'][0]
    scope = _assignments(tree)
    scope.update(_assignments(main))
    spec = _evaluate(scope['argument_spec'], scope)
    klass = [node for node in ast.parse(api).body if isinstance(node, ast.ClassDef) and node.name == 'ControllerModule'][0]
    auth = _evaluate(_assignments(klass)['AUTH_ARGSPEC'], {})
    full = dict(auth)
    full.update(spec)
    extra = {}
    for call in ast.walk(main):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'ControllerAPIModule':
            for kw in call.keywords:
                if kw.arg in ('mutually_exclusive', 'required_if', 'required_one_of', 'required_together'):
                    extra[kw.arg] = _evaluate(kw.value, scope)
    return full, extra


def eda_argspec(module):
    pinned = EDA['modules'][module]
    full = dict(EDA['auth_argspec'])
    full.update(pinned['argument_spec'])
    return full, {'required_if': pinned.get('required_if', [])}


def argspec(fqcn):
    namespace, name, module = fqcn.split('.')
    if (namespace, name) in (('ansible', 'controller'), ('awx', 'awx')):
        return awx_argspec(module)
    if (namespace, name) == ('ansible', 'eda'):
        return eda_argspec(module)
    raise KeyError(fqcn)


def _str_options(spec, params, path=''):
    """Options of type str (the default) given a mapping or a list: AnsibleModule would str() them."""
    problems = []
    for name, option in spec.items():
        names = [name] + list(option.get('aliases') or [])
        value = next((params[n] for n in names if n in params), None)
        if value is None:
            continue
        if option.get('type', 'str') == 'str' and isinstance(value, (dict, list)):
            problems.append('%s%s is a %s, the module takes a string' % (path, name, type(value).__name__))
        if option.get('options') and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    problems += _str_options(option['options'], item, '%s%s[%d].' % (path, name, i))
    return problems


def validate(fqcn, params):
    """(errors, what the module sees): ansible-core's own argument validation, plus str conversions."""
    spec, extra = argspec(fqcn)
    params = dict(params, controller_host='https://aap.example.com')   # the dispatcher's aap_hostname
    result = ArgumentSpecValidator(spec, **extra).validate(params)
    return [str(error) for error in result.errors] + _str_options(spec, params), result.validated_parameters


# ---- the dispatcher's roles, rendered by real ansible-core ------------------------------------

CAPTURE_ACTION = '''
import json, os
from ansible.plugins.action import ActionBase

class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        args = dict(self._task.args)
        with open(os.environ['AIGOV_CAPTURE'], 'a') as handle:
            handle.write(json.dumps({'role': args.pop('_role'), 'args': args}, default=str) + '\\n')
        return {'changed': False}
'''


def render(config_files, extra_vars=None):
    """{role: [module args of each item]} as the roles build them, templated by ansible-playbook.

    Raises AssertionError with ansible-playbook's output when templating fails (an undefined
    variable, an unescaped injector template).
    """
    work = tempfile.mkdtemp(prefix='aigov-aap-render-')
    os.makedirs(os.path.join(work, 'action_plugins'))
    with open(os.path.join(work, 'action_plugins', 'capture_args.py'), 'w') as handle:
        handle.write(CAPTURE_ACTION)
    tasks = []
    for role, table in ROLES['roles'].items():
        args = dict(table['args'], _role=role)
        tasks.append({'name': role, 'capture_args': args, 'loop': '{{ %s }}' % table['var'],
                      'loop_control': {'loop_var': table['loop_var'], 'label': '{{ %s.name }}' % table['loop_var']},
                      'when': '%s is defined' % table['var']})
    play = [{'name': 'The dispatcher role by role', 'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
             'vars': ROLES['defaults'], 'tasks': tasks}]
    with open(os.path.join(work, 'dispatch.yml'), 'w') as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    capture = os.path.join(work, 'capture.jsonl')
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', 'dispatch.yml',
           '-e', 'ansible_python_interpreter=%s' % sys.executable]
    for path in config_files:
        cmd += ['-e', '@' + os.path.abspath(path)]
    for name, value in sorted((extra_vars or {}).items()):
        cmd += ['-e', json.dumps({name: value})]
    env = dict(os.environ, AIGOV_CAPTURE=capture, ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, 'ansible-playbook could not template the configuration:\n' + proc.stdout[-4000:] + proc.stderr[-2000:]
        rendered = dict((role, []) for role in ROLES['roles'])
        if os.path.exists(capture):
            with open(capture) as handle:
                for line in handle:
                    entry = json.loads(line)
                    rendered[entry['role']].append(entry['args'])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rendered


def item_keys_dropped(role, item):
    """Keys of an item that the role never reads (so never reaches the module)."""
    table = ROLES['roles'][role]
    read = set(re.findall(r'%s\.(\w+)' % re.escape(table['loop_var']), json.dumps(table['args'])))
    read -= set(table.get('item_keys_not_in_3_1') or [])
    return sorted(set(item) - read - {'state'})


# ---- credential injection ----------------------------------------------------------------------

AWX_ENV_BLOCKLIST = frozenset(('VIRTUAL_ENV', 'PATH', 'PYTHONPATH', 'JOB_ID', 'INVENTORY_ID', 'INVENTORY_SOURCE_ID',
                               'INVENTORY_UPDATE_ID', 'AD_HOC_COMMAND_ID', 'REST_API_URL', 'REST_API_TOKEN',
                               'MAX_EVENT_RES', 'CALLBACK_QUEUE', 'CALLBACK_CONNECTION', 'CACHE', 'JOB_CALLBACK_DEBUG',
                               'INVENTORY_HOSTVARS', 'AWX_HOST', 'PROJECT_REVISION', 'SUPERVISOR_CONFIG_PATH'))

# The managed "Red Hat Ansible Automation Platform" credential type (awx_plugins.credentials, namespace controller).
AAP_CREDENTIAL_TYPE = {
    'inputs': {'fields': [{'id': 'host', 'type': 'string'}, {'id': 'username', 'type': 'string'},
                          {'id': 'password', 'type': 'string', 'secret': True},
                          {'id': 'oauth_token', 'type': 'string', 'secret': True},
                          {'id': 'verify_ssl', 'type': 'boolean'}], 'required': ['host']},
    'injectors': {'env': dict([('%s_%s' % (prefix, key), '{{%s}}' % field) for prefix in ('TOWER', 'CONTROLLER')
                               for key, field in (('HOST', 'host'), ('USERNAME', 'username'), ('PASSWORD', 'password'),
                                                  ('VERIFY_SSL', 'verify_ssl'), ('OAUTH_TOKEN', 'oauth_token'))])},
}


class _Exploding(object):
    def __str__(self):
        raise jinja2.UndefinedError('Must define unnamed file injector in order to reference `tower.filename`.')


def awx_validate_type(inputs, injectors):
    """AWX's checks of a credential type (awx/main/fields.py): inputs schema, env names, every template defined."""
    errors = []
    fields = (inputs or {}).get('fields') or []
    ids = [field.get('id') for field in fields]
    for field in fields:
        if field.get('type', 'string') not in ('string', 'boolean') or not field.get('label'):
            errors.append('input field %s needs a label and type string or boolean' % field.get('id'))
    for name in (inputs or {}).get('required') or []:
        if name not in ids:
            errors.append('required field %s is not an input' % name)
    filename = types.SimpleNamespace()
    namespace = {'tower': types.SimpleNamespace(filename=_Exploding())}
    for label in (injectors.get('file') or {}):
        if not re.match(r'^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$', label):
            errors.append('file injector %s is not template or template.<name>' % label)
        elif '.' in label:
            setattr(filename, label.split('.')[1], 'EXAMPLE_FILENAME')
            namespace['tower'].filename = filename
        else:
            namespace['tower'].filename = 'EXAMPLE_FILENAME'
    for field in fields:
        namespace[field['id']] = True if field.get('type') == 'boolean' else 'EXAMPLE'
    sandbox = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    for kind, templates in injectors.items():
        for key, template in (templates or {}).items():
            if kind == 'env' and (key.startswith('ANSIBLE_') or key in AWX_ENV_BLOCKLIST):
                errors.append('env %s may not be injected' % key)
            try:
                sandbox.from_string(json.dumps(template) if not isinstance(template, str) else template).render(namespace)
            except jinja2.UndefinedError as exc:
                errors.append('%s.%s uses an undefined field (%s)' % (kind, key, exc))
    return errors


def awx_inject(credential_type, inputs, private_dir):
    """(env, files, extra_vars) a job gets from a credential, as AWX's inject_credential builds them."""
    namespace = {'tower': types.SimpleNamespace()}
    for name, value in inputs.items():
        if isinstance(value, bool) or value:
            namespace[name] = value
    for field in credential_type['inputs'].get('fields', []):
        if field.get('type') == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = False
    sandbox = ImmutableSandboxedEnvironment()
    files, single = {}, None
    for label, template in (credential_type['injectors'].get('file') or {}).items():
        path = tempfile.mkstemp(dir=private_dir)[1]
        with open(path, 'w') as handle:
            handle.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, 0o600)
        if '.' in label:
            files[label.split('.')[1]] = path
        else:
            single = path
    namespace['tower'].filename = single or types.SimpleNamespace(**files)
    env = dict((name, sandbox.from_string(template).render(**namespace))
               for name, template in (credential_type['injectors'].get('env') or {}).items() if name not in AWX_ENV_BLOCKLIST)

    def build(node):
        if isinstance(node, dict):
            return dict((build(k), build(v)) for k, v in node.items())
        if isinstance(node, list):
            return [build(item) for item in node]
        return sandbox.from_string(node).render(**namespace)
    return env, dict(files, **({'': single} if single else {})), build(credential_type['injectors'].get('extra_vars') or {})


def eda_validate_type(inputs, injectors):
    """eda-server's validate_schema and validate_injectors (with file/env injectors naming eda.filename)."""
    errors = []
    fields = (inputs or {}).get('fields') or []
    for field in fields:
        if not re.match(r'^\w+$', field.get('id', '')) or field['id'].upper().startswith('EDA_'):
            errors.append('field id %s must be a word not starting with EDA_' % field.get('id'))
        if field.get('type', 'string') not in ('string', 'boolean') or not field.get('label'):
            errors.append('%s: label must exist, type must be string or boolean' % field.get('id'))
    if not set(injectors) & {'extra_vars', 'env', 'file'}:
        errors.append('injectors must have keys defined in extra_vars, env, file')
    context = dict((f['id'], True if f.get('type') == 'boolean' else '') for f in fields)
    context['eda'] = {'filename': dict((label.split('.')[-1], 'EXAMPLE') for label in injectors.get('file') or {})}
    for kind in ('extra_vars', 'env', 'file'):
        for key, value in (injectors.get(kind) or {}).items():
            try:
                if isinstance(value, str) and '{{' in value and '}}' in value:
                    NativeTemplate(value, undefined=jinja2.StrictUndefined).render(context)
            except jinja2.UndefinedError:
                errors.append('Injector key: %s has a value which refers to an undefined key error: %s is undefined' % (key, value))
    return errors


def eda_validate_inputs(inputs_schema, inputs):
    """eda-server's validate_inputs: no unknown keys, required ones not blank."""
    ids = set(f['id'] for f in inputs_schema.get('fields', []))
    errors = ['Input keys %s are not defined in the schema' % sorted(set(inputs) - ids)] if set(inputs) - ids else []
    for name in inputs_schema.get('required') or []:
        if not str(inputs.get(name) or '').strip():
            errors.append('inputs.%s: Cannot be blank' % name)
    return errors


def eda_activation_extra_vars(credential_type, inputs):
    """The extra_vars an activation gets from a credential (substitute_variables: StrictUndefined raises)."""
    def substitute(node):
        if isinstance(node, dict):
            return dict((k, substitute(v)) for k, v in node.items())
        if isinstance(node, str) and '{{' in node and '}}' in node:
            value = NativeTemplate(node, undefined=jinja2.StrictUndefined).render(inputs)
            if isinstance(value, jinja2.Undefined):   # native rendering hands the Undefined back; eda-server fails on it
                raise AssertionError('eda-server cannot inject %s: the credential does not set it' % node)
            return value
        return node
    return substitute((credential_type.get('injectors') or {}).get('extra_vars') or {})

"""The collection as users install it: galaxy artifact, ansible-doc, execution environment."""

import json
import os
import subprocess

import pytest
import yaml
from ansible.release import __version__ as ansible_core_version
from packaging.specifiers import SpecifierSet

from tests.conftest import ROOT
from tests.integration.conftest import BIN

# Every module file ships, renders its docs and is listed by ansible-doc.
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, 'plugins', 'modules'))
                 if name.endswith('.py') and not name.startswith('_'))
INSTALLED = ('ansible_collections', 'aigov', 'core')


def test_artifact_ships_the_collection_and_no_dev_files(collections_path):
    with open(os.path.join(collections_path, *INSTALLED, 'FILES.json')) as handle:
        names = {entry['name'] for entry in json.load(handle)['files']}
    for expected in ['plugins/modules/ai_asset_facts.py', 'plugins/inventory/ai_assets.py', 'playbooks/discover.yml',
                     'playbooks/compliance_scan.yml', 'policies/default.yml',
                     'registry/default.yml', 'schemas/asset.v1.json', 'meta/runtime.yml', 'meta/execution-environment.yml',
                     'requirements.txt', 'bindep.txt', 'docs/architecture.md', 'playbooks/enforce_baseline.yml',
                     'roles/ai_baseline/meta/argument_specs.yml', 'roles/ai_baseline/tasks/remediate/services.yml',
                     'plugins/filter/baseline.py', 'examples/aap/controller_config.yml']:
        assert expected in names
    assert not [name for name in names if name.split('/')[0] in ('hack', 'bench', '.ci', 'reports') or name.startswith('tests/')]


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders_docs_and_examples(ansible, module):
    proc = ansible.run('ansible-doc', 'aigov.core.%s' % module)
    assert proc.returncode == 0, proc.stderr
    assert 'EXAMPLES:' in proc.stdout and 'RETURN VALUES:' in proc.stdout and 'OPTIONS' in proc.stdout
    assert 'ERROR' not in proc.stderr and 'WARNING' not in proc.stderr


def test_ansible_doc_renders_the_inventory_plugin(ansible):
    proc = ansible.run('ansible-doc', '-t', 'inventory', 'aigov.core.ai_assets')
    assert proc.returncode == 0, proc.stderr
    assert 'EXAMPLES:' in proc.stdout and 'keyed_groups' in proc.stdout and 'cache_plugin' in proc.stdout
    assert 'ERROR' not in proc.stderr and 'WARNING' not in proc.stderr


def test_ansible_doc_renders_the_baseline_role(ansible):
    proc = ansible.run('ansible-doc', '-t', 'role', 'aigov.core.ai_baseline')
    assert proc.returncode == 0, proc.stderr
    for option in ('aigov_baseline_mode', 'aigov_baseline_allow_disruptive', 'aigov_baseline_services'):
        assert option in proc.stdout
    assert 'ERROR' not in proc.stderr and 'WARNING' not in proc.stderr


def test_ansible_doc_renders_the_remediation_role(ansible):
    proc = ansible.run('ansible-doc', '-t', 'role', 'aigov.core.ai_remediation')
    assert proc.returncode == 0, proc.stderr
    for option in ('ai_remediation_plan', 'ai_remediation_agents', 'ai_remediation_gpu_stop_timeout'):
        assert option in proc.stdout
    assert 'ERROR' not in proc.stderr and 'WARNING' not in proc.stderr


def test_ansible_doc_renders_the_lookup(ansible):
    proc = ansible.run('ansible-doc', '-t', 'lookup', 'aigov.core.agent_secret')
    assert proc.returncode == 0, proc.stderr
    assert 'EXAMPLES:' in proc.stdout and 'BAO_ADDR' in proc.stdout and 'no_log' in proc.stdout
    assert 'ERROR' not in proc.stderr and 'WARNING' not in proc.stderr


def test_ansible_doc_renders_the_rotation_role(ansible):
    proc = ansible.run('ansible-doc', '-t', 'role', 'aigov.core.agent_secret_rotation')
    assert proc.returncode == 0, proc.stderr
    assert 'agent_secret_rotation_agents' in proc.stdout and 'verify_url' in proc.stdout
    assert 'ERROR' not in proc.stderr


def test_ansible_doc_lists_every_module(ansible):
    proc = ansible.run('ansible-doc', '-t', 'module', '-l', 'aigov.core', '--json')
    assert sorted(json.loads(proc.stdout)) == ['aigov.core.%s' % m for m in MODULES]


def test_requires_ansible_admits_the_tested_core():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        spec = SpecifierSet(yaml.safe_load(handle)['requires_ansible'])
    assert ansible_core_version in spec


def test_execution_environment_can_be_created(collections_path, tmp_path):
    builder = os.path.join(BIN, 'ansible-builder')
    create = subprocess.run([builder, 'create', '-f', os.path.join(ROOT, 'examples', 'execution-environment.yml'),
                             '--context', str(tmp_path / 'ctx')], capture_output=True, text=True, check=False, timeout=120)
    assert create.returncode == 0, create.stdout + create.stderr
    assert (tmp_path / 'ctx' / 'Containerfile').exists()
    introspect = subprocess.run([builder, 'introspect', '--sanitize', collections_path], capture_output=True, text=True,
                                check=False, timeout=120)
    assert introspect.returncode == 0, introspect.stderr
    assert "jmespath>=1.0.1  # from collection aigov.core" in introspect.stdout
    assert 'from collection aigov.core' in introspect.stdout.split('system:')[1]

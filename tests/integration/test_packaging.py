"""The collection as users install it: galaxy artifact, ansible-doc, execution environment."""

import glob
import json
import os
import re
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
                     'plugins/filter/baseline.py', 'examples/aap/controller_config.yml',
                     # the demo estate (make demo), dot files included: Galaxy users run it from the collection
                     'examples/demo-estate/inventory.yml', 'examples/demo-estate/registry.yml',
                     'examples/demo-estate/home/dev/.env', 'examples/demo-estate/home/dev/.cursor/mcp.json',
                     'examples/demo-estate/models/sentiment-classifier.pkl', 'examples/demo-estate/models/alexnet.onnx']:
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


# The minimal AAP images are ubi-minimal based and have only microdnf; the supported ones have dnf.
PACKAGE_MANAGERS = {'ee-minimal': '/usr/bin/microdnf', 'de-minimal': '/usr/bin/microdnf',
                    'ee-supported': '/usr/bin/dnf', 'de-supported': '/usr/bin/dnf'}


def builder_create(definition, context):
    """ansible-builder create: (returncode, output, the PKGMGR of the Containerfile it wrote)."""
    create = subprocess.run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', definition, '--context', str(context)],
                            capture_output=True, text=True, check=False, timeout=120)
    pkgmgr = None
    if (context / 'Containerfile').exists():
        pkgmgr = re.search(r'^ARG PKGMGR="([^"]*)"', (context / 'Containerfile').read_text(), re.M).group(1)
    return create.returncode, create.stdout + create.stderr, pkgmgr


def base_image_package_manager(definition):
    with open(definition) as handle:
        image = yaml.safe_load(handle)['images']['base_image']['name']
    [kind] = [kind for kind in PACKAGE_MANAGERS if '/%s-' % kind in image]
    return PACKAGE_MANAGERS[kind]


@pytest.mark.parametrize('name', ['execution-environment.yml', 'decision-environment.yml'])
def test_execution_and_decision_environments_are_created_with_their_base_image_package_manager(name, tmp_path):
    definition = os.path.join(ROOT, 'examples', name)
    code, output, pkgmgr = builder_create(definition, tmp_path / 'ctx')
    assert code == 0, output
    assert pkgmgr == base_image_package_manager(definition), '%s builds with %s' % (name, pkgmgr)
    assert 'aigov.core' in (tmp_path / 'ctx' / '_build' / 'requirements.yml').read_text()


def test_a_definition_without_the_package_manager_of_its_base_image_fails(tmp_path):
    """The seeded mistake of issue 14: ee-minimal with ansible-builder's default package manager."""
    with open(os.path.join(ROOT, 'examples', 'execution-environment.yml')) as handle:
        definition = yaml.safe_load(handle)
    definition.pop('options')
    seeded = tmp_path / 'ee.yml'
    seeded.write_text(yaml.safe_dump(definition))
    _code, _output, pkgmgr = builder_create(str(seeded), tmp_path / 'ctx')
    assert pkgmgr != base_image_package_manager(str(seeded))


def test_introspection_finds_the_collection_requirements(collections_path):
    builder = os.path.join(BIN, 'ansible-builder')
    introspect = subprocess.run([builder, 'introspect', '--sanitize', collections_path], capture_output=True, text=True,
                                check=False, timeout=120)
    assert introspect.returncode == 0, introspect.stderr
    assert "jmespath>=1.0.1  # from collection aigov.core" in introspect.stdout
    assert 'from collection aigov.core' in introspect.stdout.split('system:')[1]


# galaxy-importer in its own venv (hack/requirements/importer.txt; the Makefile makes it).
IMPORTER = os.path.join(ROOT, '.cache', 'importer-venv', 'bin')


def galaxy_import(tarball, tmp_path):
    """galaxy-importer on an artifact, ansible-test off, ansible-lint offline: (returncode, problems, output)."""
    config = tmp_path / 'galaxy-importer.cfg'
    config.write_text('[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nOFFLINE_ANSIBLE_LINT = True\n')
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(config), PATH=IMPORTER + os.pathsep + os.environ['PATH'])
    proc = subprocess.run([os.path.join(IMPORTER, 'python'), '-m', 'galaxy_importer.main', tarball], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, check=False, timeout=900)
    output = proc.stdout + proc.stderr
    problems = [line for line in output.splitlines() if re.search(r'\b(WARNING|ERROR)\b', line)]
    return proc.returncode, problems, output


def built_artifact():
    [tarball] = glob.glob(os.path.join(ROOT, '.cache', 'build', 'aigov-core-*.tar.gz'))
    return tarball


def test_galaxy_importer_imports_the_artifact_without_an_error_or_a_warning(tmp_path):
    code, problems, output = galaxy_import(built_artifact(), tmp_path)
    assert code == 0 and problems == [], '\n'.join(problems) or output[-3000:]
    assert 'Importer processing completed successfully' in output


def test_galaxy_importer_fails_on_an_artifact_with_a_role_without_readme(tmp_path):
    """Seeded: the mistake of issue 14, a role without its README.md."""
    import tarfile
    (tmp_path / 'seeded').mkdir()
    seeded = tmp_path / 'seeded' / os.path.basename(built_artifact())   # the importer reads ns-name-version from it
    with tarfile.open(built_artifact()) as src, tarfile.open(str(seeded), 'w:gz') as dst:
        for member in src.getmembers():
            if member.name != 'roles/ai_baseline/README.md':
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    code, problems, _output = galaxy_import(str(seeded), tmp_path)
    assert code != 0 and problems, problems

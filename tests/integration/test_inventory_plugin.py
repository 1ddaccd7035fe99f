"""The aigov.core.ai_assets inventory plugin through the real ansible-inventory CLI.

Golden files: tests/integration/golden/inventory/<config>.json hold the
expected `ansible-inventory --list` output for each configuration below, over
the estate in tests/fixtures/inventory (store timestamps are fixed, so the
output is deterministic). Regenerate them after an intended change with
`AIGOV_UPDATE_GOLDEN=1 make integration` and review the diff.
"""

import json
import os
import shutil

import pytest
import yaml

from tests.conftest import ROOT
from tests.fixtures.inventory import estate
from tests.inventory_json import unwrap

GOLDEN = os.path.join(ROOT, 'tests', 'integration', 'golden', 'inventory')
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'inventory')

CONFIGS = {
    'default': {'registry': 'registry.yml'},
    'constructed': {
        'registry': 'registry.yml',
        'strict': True,
        'compose': {'gpu_count': 'aigov_asset_counts.gpu | default(0)'},
        'groups': {'exposed_model_servers': "ai_assets | selectattr('kind', 'eq', 'model_server') "
                                            "| selectattr('attributes.exposed') | list | length > 0"},
        'keyed_groups': [{'key': 'aigov_use_cases', 'prefix': 'use_case'}],
    },
    'history': {'registry': 'registry.yml', 'include_removed': True, 'policy_packs': []},
}


def seed_store(path):
    """Record the fixture's scans through the engine, as ai_asset_store does."""
    from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
    from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(path), json.loads(json.dumps(scans)), when)


@pytest.fixture
def workdir(tmp_path):
    seed_store(str(tmp_path / 'aigov-data' / 'assets.sqlite3'))
    shutil.copy(os.path.join(FIXTURES, 'registry.yml'), str(tmp_path / 'registry.yml'))
    return tmp_path


def write_config(workdir, name, options):
    path = workdir / ('%s.ai_assets.yml' % name)
    path.write_text(yaml.safe_dump(dict({'plugin': 'aigov.core.ai_assets'}, **options)))
    return path


def inventory_list(ansible, config, *extra):
    proc = ansible.run('ansible-inventory', '-i', config, '--list', *extra, cwd=str(config.parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '[WARNING]' not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def normalized(inventory):
    """Unwrapped, with group member lists sorted, so only content is compared."""
    inventory = unwrap(inventory)
    for name, group in inventory.items():
        if name != '_meta':
            for key in ('hosts', 'children'):
                if key in group:
                    group[key] = sorted(group[key])
    return inventory


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_inventory_list_matches_golden_file(ansible, workdir, name):
    got = normalized(inventory_list(ansible, write_config(workdir, name, CONFIGS[name])))
    golden = os.path.join(GOLDEN, '%s.json' % name)
    if os.environ.get('AIGOV_UPDATE_GOLDEN'):
        with open(golden, 'w') as handle:
            json.dump(got, handle, indent=2, sort_keys=True)
            handle.write('\n')
    with open(golden) as handle:
        assert got == json.load(handle)


def test_groups_say_what_each_host_is(ansible, workdir):
    """The golden files are reviewed by eye; the facts that matter are asserted here too."""
    got = normalized(inventory_list(ansible, write_config(workdir, 'default', CONFIGS['default'])))
    members = dict((name, sorted(group.get('hosts', []))) for name, group in got.items() if name != '_meta')
    assert members['aigov_kind_model_server'] == ['cloud-vm-1', 'edge-box-1', 'gpu-onprem-1', 'ws-dev-1']
    assert members['aigov_kind_gpu'] == ['gpu-onprem-1']
    assert members['aigov_risk_high'] == ['cloud-vm-1']
    assert members['aigov_owner_head_of_support'] == ['cloud-vm-1']
    assert members['aigov_env_edge'] == ['edge-box-1']
    assert members['aigov_shadow'] == ['ws-dev-1']
    # gpu: exposed vLLM without auth; cloud: world-readable .env; ws: exposed Ollama. The edge box's
    # poisoned pickle was removed by the second scan, so the edge box is compliant now.
    assert members['aigov_noncompliant'] == ['cloud-vm-1', 'gpu-onprem-1', 'ws-dev-1']
    assert members['aigov_compliant'] == ['edge-box-1']
    hostvars = got['_meta']['hostvars']
    assert hostvars['gpu-onprem-1']['ansible_host'] == '10.10.0.11'
    assert 'ansible_host' not in hostvars['edge-box-1']
    assert [f['rule_id'] for f in hostvars['gpu-onprem-1']['aigov_findings']] == ['AIGOV-MS-001']
    edge_ids = [a['id'] for a in hostvars['edge-box-1']['ai_assets']]
    assert 'model_artifact:3000000000000003' not in edge_ids
    assert hostvars['ws-dev-1']['aigov_last_scan'] == estate.T1  # unreachable in the second scan: kept as it was


def test_waivers_parameters_and_regions_as_the_policy_check_takes_them(ansible, workdir):
    """An exceptions file waives gpu-onprem-1's exposed vLLM; its region comes from the static inventory listed
    first and breaks the use case's residency; a parameter makes cloud-vm-1's key rotation overdue."""
    registry = yaml.safe_load((workdir / 'registry.yml').read_text())
    registry['use_cases'][0]['allowed_regions'] = ['eu-west-1']
    (workdir / 'registry.yml').write_text(yaml.safe_dump(registry))
    (workdir / 'waivers.yml').write_text(
        'schema_version: 1\nexceptions:\n  - {rule: AIGOV-MS-001, assets: [{inventory_hostname: gpu-onprem-1}], '
        'owner: ml-platform, reason: firewalled to the app subnet, expires: "2999-12-31"}\n')
    (workdir / 'static.yml').write_text('all:\n  hosts:\n    gpu-onprem-1:\n      aigov_region: us-east-1\n')
    options = dict(CONFIGS['default'], exceptions=['waivers.yml'], parameters={'credential_max_age_days': 1})
    config = write_config(workdir, 'governed', options)
    proc = ansible.run('ansible-inventory', '-i', str(workdir / 'static.yml'), '-i', config, '--list', cwd=str(workdir))
    assert proc.returncode == 0, proc.stderr
    hostvars = unwrap(json.loads(proc.stdout))['_meta']['hostvars']
    gpu = [(f['rule_id'], f['waived']) for f in hostvars['gpu-onprem-1']['aigov_findings']]
    # Residency: every asset of the use case on the host (GPU, server, model files); the waiver: the vLLM only.
    assert set(gpu) == {('AIGOV-GV-005', False), ('AIGOV-MS-001', True)} and gpu.count(('AIGOV-MS-001', True)) == 1, gpu
    assert hostvars['gpu-onprem-1']['aigov_compliant'] is False   # the residency finding is not waived
    before = [f['rule_id'] for f in inventory_list(ansible, write_config(workdir, 'default', CONFIGS['default']))
              ['_meta']['hostvars']['cloud-vm-1']['aigov_findings']]
    after = [f['rule_id'] for f in hostvars['cloud-vm-1']['aigov_findings']]
    assert 'AIGOV-CR-003' in after and 'AIGOV-CR-003' not in before, (before, after)


def test_removed_assets_are_listed_only_when_asked_and_never_grouped(ansible, workdir):
    got = normalized(inventory_list(ansible, write_config(workdir, 'history', CONFIGS['history'])))
    edge = got['_meta']['hostvars']['edge-box-1']
    removed = [a for a in edge['ai_assets'] if a.get('removed_at')]
    assert [(a['id'], a['removed_at'], a['first_seen']) for a in removed] == [
        ('model_artifact:3000000000000003', estate.T2, estate.T1)]
    assert edge['aigov_asset_counts'] == {'model_artifact': 1, 'model_server': 1}
    assert edge['aigov_compliant'] is None
    assert 'aigov_compliant' not in got and 'aigov_noncompliant' not in got


def test_cache_keeps_the_store_read_but_rebuilds_groups(ansible, workdir):
    options = dict(CONFIGS['default'], cache=True, cache_plugin='ansible.builtin.jsonfile',
                   cache_connection=str(workdir / 'cache'), cache_timeout=3600)
    config = write_config(workdir, 'cached', options)
    first = normalized(inventory_list(ansible, config))
    assert os.listdir(str(workdir / 'cache'))
    # The estate changes (a new host is scanned) and the registry gains a use case for the workstation.
    from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
    from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
    asset_store.record_scans(open_store(str(workdir / 'aigov-data' / 'assets.sqlite3')),
                             [estate.scan('new-host', [], '10.0.0.99')], estate.T2)
    registry = yaml.safe_load((workdir / 'registry.yml').read_text())
    registry['use_cases'].append({'id': 'dev', 'risk_tier': 'minimal', 'assets': [{'inventory_hostname': 'ws-dev-1'}]})
    (workdir / 'registry.yml').write_text(yaml.safe_dump(registry))

    cached = normalized(inventory_list(ansible, config))
    assert 'new-host' not in cached['_meta']['hostvars']          # raw store data came from the cache
    assert 'ws-dev-1' in first['aigov_shadow']['hosts']
    assert 'aigov_shadow' not in cached                              # groups were rebuilt with the new registry
    assert 'ws-dev-1' in cached['aigov_risk_minimal']['hosts']

    flushed = normalized(inventory_list(ansible, config, '--flush-cache'))
    assert 'new-host' in flushed['_meta']['hostvars']


def test_verify_file_takes_only_its_own_suffix(ansible, workdir):
    other = workdir / 'inventory.yml'
    other.write_text(yaml.safe_dump({'plugin': 'aigov.core.ai_assets', 'registry': 'registry.yml'}))
    proc = ansible.run('ansible-inventory', '-i', other, '--list', cwd=str(workdir))
    assert "could not be verified by inventory plugin 'aigov.core.ai_assets'" in proc.stderr
    assert json.loads(proc.stdout)['_meta']['hostvars'] == {}


def test_discovered_text_is_never_templated(ansible, workdir, tmp_path):
    """A process name or model planted on a host is data: a template in it must not run on the controller."""
    from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
    from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
    marker = tmp_path / 'templated'
    hostile = estate.server('5000000000000001', 'evil', 'vllm', '0.0.0.0', 8000, 'none',
                            "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker)
    asset_store.record_scans(open_store(str(workdir / 'aigov-data' / 'assets.sqlite3')),
                             [estate.scan('evil', [hostile], "{{ lookup('ansible.builtin.pipe', 'id') }}")], estate.T2)
    config = write_config(workdir, 'default', CONFIGS['default'])
    proc = ansible.run('ansible', '-i', config, 'evil', '-m', 'ansible.builtin.debug',
                       '-a', 'msg={{ ai_assets[0].attributes.model }}', cwd=str(workdir))
    assert "lookup('ansible.builtin.pipe', 'touch" in proc.stdout, proc.stdout + proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize('options, message', [
    ({'store': 'missing.sqlite3'}, "no asset store at '{dir}/missing.sqlite3'"),
    ({'registry': 'broken.yml'}, "{dir}/broken.yml is invalid:\n  - use_cases[0] (id x): risk_tier must be one of"),
    ({'policy_packs': ['no-such-pack']}, "no bundled policy pack named 'no-such-pack'"),
    ({'strict': True, 'compose': {'x': 'no_such_variable.y'}}, 'Could not set x for host'),
])
def test_bad_configuration_is_a_clear_error(ansible, workdir, options, message):
    (workdir / 'broken.yml').write_text('schema_version: 1\nuse_cases:\n  - {id: x, risk_tier: extreme, assets: [{kind: gpu}]}\n')
    config = write_config(workdir, 'bad', options)
    proc = ansible.run('ansible-inventory', '-i', config, '--list', cwd=str(workdir))
    output = proc.stdout + proc.stderr
    assert message.format(dir=str(workdir)) in output
    assert json.loads(proc.stdout)['_meta']['hostvars'] == {}

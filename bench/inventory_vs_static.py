"""Figure: `ansible-inventory --list` through the aigov.core.ai_assets inventory plugin, over an
asset store of 10,000 assets on 1,000 hosts, against the same hosts, groups and host variables
written as a static YAML inventory (the plugin's own output, converted), interleaved round by
round; median wall time of the whole CLI run (target <= 1.5).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store  # noqa: E402
import targets  # noqa: E402
from tests.fixtures.inventory import estate  # noqa: E402
from tests.inventory_json import unwrap  # noqa: E402

BIN = os.path.dirname(sys.executable)


def host_assets(index, name):
    """Ten assets of five kinds, some of them non-compliant, as discovery reports them."""
    assets = []
    for slot in range(10):
        key = '%016x' % (index * 100 + slot)
        kind = slot % 5
        if kind == 0:
            address = '0.0.0.0' if index % 7 == 0 else '127.0.0.1'
            assets.append(estate.server(key, name, 'vllm', address, 8000 + slot, 'none', 'meta-llama/Llama-3.1-8B'))
        elif kind == 1:
            assets.append(estate.model_file(key, name, '/models/m%d.safetensors' % slot, 'safetensors', 'a' * 64))
        elif kind == 2:
            assets.append(estate.asset('ai_package', key, name, 'torch', {'package': 'torch', 'version': '2.5.1', 'venv': None}))
        elif kind == 3:
            assets.append(estate.asset('credential', key, name, 'openai', {
                'provider': 'openai', 'source': 'env_file', 'location': '/srv/agent/.env',
                'fingerprint': 'hmac-sha256:%016x' % index, 'world_readable': index % 3 == 0, 'age_days': 3.0}))
        else:
            gpu = {'vendor': 'nvidia', 'model': 'NVIDIA A100', 'memory_mib': 81920, 'processes': []}
            assets.append(estate.asset('gpu', key, name, 'NVIDIA A100', gpu))
    return assets


def inventory_list(source, workdir, hosts):
    """(wall time, output) of `ansible-inventory --list` of source, which must list `hosts` hosts.

    This checkout is the collection (as in the other figures), and an inventory source that does not parse is an
    error: ansible-inventory would otherwise print a warning, list nothing and exit 0, and a figure would time an
    empty inventory.
    """
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=conftest.FARM, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_INVENTORY_UNPARSED_FAILED='true', ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true')
    started = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, 'ansible-inventory'), '-i', source, '--list'], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit('ansible-inventory -i %s failed:\n%s' % (source, proc.stderr[-2000:]))
    found = json.loads(proc.stdout)
    listed = len(set(found.get('_meta', {}).get('hostvars', {})).union(
        *[body.get('hosts', []) for group, body in found.items() if group != '_meta']))
    if listed != hosts:
        sys.exit('ansible-inventory -i %s listed %d host(s), not %d:\n%s' % (source, listed, hosts, proc.stderr[-2000:]))
    return elapsed, proc.stdout


def build(workdir, hosts):
    scans = [estate.scan('host-%04d' % index, host_assets(index, 'host-%04d' % index), '10.0.%d.%d' % divmod(index, 250))
             for index in range(hosts)]
    asset_store.record_scans(open_store(os.path.join(workdir, 'assets.sqlite3')), scans, estate.T1)
    plugin = os.path.join(workdir, 'bench.ai_assets.yml')
    with open(plugin, 'w') as handle:
        handle.write('plugin: aigov.core.ai_assets\nstore: assets.sqlite3\n')
    _elapsed, output = inventory_list(plugin, workdir, hosts)
    listed = unwrap(json.loads(output))
    static = {'all': {'hosts': listed['_meta']['hostvars'], 'children': dict(
        (group, {'hosts': dict((host, None) for host in body.get('hosts', []))})
        for group, body in listed.items() if group not in ('_meta', 'all', 'ungrouped'))}}
    static_path = os.path.join(workdir, 'static.yml')
    with open(static_path, 'w') as handle:
        yaml.dump(static, handle, Dumper=getattr(yaml, 'CSafeDumper', yaml.SafeDumper))
    return plugin, static_path, sum(len(scan['assets']) for scan in scans)


SMOKE = {'inventory_hosts': 20, 'inventory_rounds': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-inventory-')
    plugin, static, assets = build(workdir, args.inventory_hosts)
    times = {'plugin': [], 'static': []}
    for index in range(args.inventory_rounds):
        order = ('static', 'plugin') if index % 2 == 0 else ('plugin', 'static')
        for which in order:
            times[which].append(inventory_list(plugin if which == 'plugin' else static, workdir, args.inventory_hosts)[0])
    base, cand = statistics.median(times['static']), statistics.median(times['plugin'])
    print('\nansible-inventory --list, %d assets on %d hosts, %d interleaved rounds, median wall time'
          % (assets, args.inventory_hosts, args.inventory_rounds))
    print('  baseline  static YAML inventory (same hosts, groups, vars)  %.2f s' % base)
    print('  candidate aigov.core.ai_assets over the asset store         %.2f s' % cand)
    print('  ratio     %.2fx the baseline (lower is faster; target <= 1.5)' % (cand / base))
    found = [targets.check('inventory: ai_assets plugin time / static YAML time', cand / base, '<=', 1.5)]
    return {'figure': 'inventory_plugin_vs_static_yaml', 'hosts': args.inventory_hosts, 'assets': assets,
            'rounds': args.inventory_rounds, 'baseline_median_s': round(base, 3), 'candidate_median_s': round(cand, 3),
            'ratio': round(cand / base, 3), 'targets': found}


def add_arguments(parser):
    parser.add_argument('--inventory-hosts', type=int, default=1000, help='hosts in the inventory figure (10 assets each)')
    parser.add_argument('--inventory-rounds', type=int, default=3, help='interleaved rounds of the inventory figure')

"""A report document built the way a scan builds it: real assets, the bundled
default pack evaluated by the real policy engine, then report.build_report."""

import copy
import os

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks, policy
from ansible_collections.aigov.core.plugins.module_utils.reports import report, report_history

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..')
DEFAULT_PACK = os.path.join(ROOT, 'tests', 'fixtures', 'reports', 'pack.yml')  # frozen: counts must not move with the bundled pack
GENERATED_AT = '2026-11-24T03:17:02+00:00'
HOSTILE = '<script>alert("pwn")</script>&amp;\x1b[31m\x00'  # an asset name as a hostile host could report it


def _asset(kind, ident, name, host, evidence, **attributes):
    return {'schema_version': 1, 'id': '%s:%016x' % (kind, ident), 'kind': kind, 'name': name, 'host': host,
            'inventory_hostname': host, 'confidence': 'inferred', 'attributes': attributes, 'evidence': evidence,
            'registry': {'registered': False, 'shadow': True, 'use_case': None, 'use_case_name': None, 'risk_tier': None,
                         'owners': {}, 'environment': None, 'region': None, 'model_approved': None}}


def server(ident, host, port, auth, name='vllm'):
    return _asset('model_server', ident, name, host,
                  [{'type': 'process', 'pid': 4000 + ident, 'uid': 0},
                   {'type': 'socket', 'pid': 4000 + ident, 'address': '0.0.0.0', 'port': port}],
                  product='vllm', product_name='vLLM', model='facebook/opt-125m',
                  listeners=[{'address': '127.0.0.1', 'port': port + 1, 'loopback': True},
                             {'address': '0.0.0.0', 'port': port, 'loopback': False}],
                  exposed=True, auth=auth, auth_evidence='', dev_mode=[], uid=0, executable='/usr/bin/python3',
                  cmdline=['python3', '-m', 'vllm', '--api-key', '<redacted>'], pids=[4000 + ident], version='0.6.0',
                  version_source='package-metadata:/opt/venv/lib/python3.11/site-packages/vllm-0.6.0.dist-info', http=None)


def pickle_file(ident, host, path, dangerous):
    return _asset('model_artifact', ident, os.path.basename(path), host, [{'type': 'file', 'path': path}],
                  path=path, format='pytorch_zip', size=2048, sha256='ab' * 32, mode='0644', uid=0, owner='root',
                  world_writable=False, details={}, executes_code_on_load=bool(dangerous),
                  pickle={'imports': dangerous or ['collections.OrderedDict'], 'dangerous': dangerous, 'error': None})


def credential_file(ident, host, path):
    return _asset('credential', ident, 'openai', host, [{'type': 'file', 'path': path}], provider='openai',
                  variable='OPENAI_API_KEY', source='env_file', location=path, fingerprint='hmac-sha256:0123456789abcdef',
                  age_days=3.5, pids=[], world_readable=True)


def assets():
    return [
        server(1, 'gpu-1', 8000, 'none'),
        server(2, 'gpu-2', 8001, 'configured'),
        server(3, 'gpu-2', 9000, 'none', name=HOSTILE),
        pickle_file(4, 'gpu-1', '/srv/models/evil model.pt', ['posix.system']),
        pickle_file(5, 'gpu-2', '/srv/models/ok.pt', []),
        credential_file(6, 'edge-1', '/home/app/.env'),
    ]


def check(waive=None, records=None):
    """An ai_policy_check result over assets(); waive: rule id whose findings get a waiver."""
    pack = policy.load_pack(DEFAULT_PACK)
    records = assets() if records is None else records
    findings, rules = policy.evaluate([pack], records)
    for finding in findings:
        if finding['rule_id'] == waive:
            finding['waived'] = True
            finding['waiver'] = {'owner': 'ml-platform <lead@corp>', 'reason': 'isolated lab <b>segment</b>',
                                 'expires': '2027-01-31'}
    summary = policy.summarize(findings, records)
    summary.update(hosts_scanned=3, hosts_missing=1, complete=False)
    scope = {'hosts_targeted': ['edge-1', 'ghost', 'gpu-1', 'gpu-2'], 'hosts_scanned': ['edge-1', 'gpu-1', 'gpu-2'],
             'hosts_missing': ['ghost'], 'problems': {'edge-1': ['cannot read /proc/77/environ: permission denied']}}
    return {'summary': summary, 'scope': scope, 'rules': rules, 'findings': findings, 'assets': records,
            'policy_packs': [{'name': 'default', 'version': pack['version'], 'path': DEFAULT_PACK, 'sha256': pack['sha256']}],
            'registry': {'path': '/etc/aigov/registry.yml', 'sha256': 'cd' * 32, 'use_cases': 0},
            'frameworks': frameworks.public(policy.catalogues_of([pack]))}


def document(waive=None, history=(), records=None):
    """A report document with a trend of history + this scan."""
    result = check(waive, records)
    trend = list(copy.deepcopy(history)) + [report_history.record(result, GENERATED_AT)]
    return report.build_report(result, GENERATED_AT, trend)

"""Figure: evaluating the default policy pack over 10,000 realistic assets on one core.

candidate  policy.evaluate(): expressions compiled once, one interpreter per pack, rules
           evaluated only on the kinds their applies_to can select, fleet context and waivers
baseline   the same rules with `jmespath.search(expression, asset)` per call (uncompiled,
           same custom functions), applies_to then condition for every rule and asset

Both must find the same (rule, asset) pairs. Rule evaluations per second count every
(enabled rule, asset) pair decided, in the candidate's median wall time (targets: >= 200,000/s
and >= 10x the baseline). One process, so one core.
"""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

import jmespath  # noqa: E402
import targets  # noqa: E402
from jmespath.visitor import Options  # noqa: E402

from ansible_collections.aigov.core.plugins.module_utils.policy import policy, policy_functions  # noqa: E402
from tests.fixtures import policy_assets as pa  # noqa: E402


def host_assets(index):
    """Twenty assets of one host, the mix a GPU/app host reports, some of them non-compliant."""
    host = 'host-%04d' % index
    odd = index % 7 == 0
    shadow = pa.registry_match() if index % 11 == 0 else None
    region = 'us-east-1' if index % 13 == 0 else 'eu-west-1'
    reg = pa.registry_match('chat', 'high' if index % 5 == 0 else 'limited',
                            {'decision': 'cto', 'risk': 'ciso', 'escalation': 'sre'}, ['eu-west-1'])
    common = dict(host=host, region=region, registry=shadow or reg)
    key = 'hmac-sha256:%016x' % (index // 3)  # every key on three hosts
    return [
        pa.server('vllm', '0.0.0.0' if odd else '127.0.0.1', auth='none' if odd else 'configured', version='0.6.3',
                  uid=0 if odd else 1000, **common),
        pa.server('ollama', port=11434, version='0.1.32' if odd else '0.3.12', **common),
        pa.server('qdrant', '0.0.0.0', 6333, kind='vector_db', **common),
        pa.model_file('/models/llama/model.safetensors', sha256='a' * 64 if index % 17 else 'b' * 64, **common),
        pa.model_file('/models/llama/tokenizer.json.gguf', 'gguf', world_writable=odd, **common),
        pa.model_file('/models/legacy/model.pt', 'pytorch_zip', pickle=pa.pickled(['posix.system'] if odd else []),
                      executes=odd, **common),
        pa.credential('env_file', fingerprint=key, age_days=float(index % 200), world_readable=odd, **common),
        pa.credential('process_env', fingerprint=key, location='python -m agent.worker', **common),
        pa.mcp_config(plaintext=odd, **common),
        pa.mcp_process('127.0.0.1', **common),
        pa.agent('0.0.0.0' if odd else '127.0.0.1', credential_env=['OPENAI_API_KEY'] if odd else [], **common),
        pa.package('transformers', '4.36.2' if odd else '4.44.0', **common),
        pa.package('torch', '2.5.1', 'ml_runtime', **common),
        pa.package('vllm', '0.6.3', 'ml_runtime', **common),
        pa.package('openai', '1.54.3', 'provider_sdk', **common),
        pa.package('langchain', '0.3.7', 'agent_framework', **common),
        pa.package('llama-cpp-python', '0.2.60' if odd else '0.3.1', 'ml_runtime', **common),
        pa.package('mlflow', '2.17.0', **common),
        pa.gpu(**common),
        pa.gpu(**common),
    ]


def baseline(packs, assets):
    """Per call `jmespath.search(expression, asset)` over every rule and asset."""
    failed = set()
    for pack in packs:
        options = Options(custom_functions=policy_functions.PolicyFunctions(pack['parameters']))
        for rule in pack['rules']:
            applies_to, condition = rule['applies_to'], rule['condition']
            for asset in assets:
                if policy._truthy(jmespath.search(applies_to, asset, options)) and \
                        not policy._truthy(jmespath.search(condition, asset, options)):
                    failed.add((rule['id'], asset['id']))
    return failed


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


SMOKE = {'policy_assets': 200, 'policy_rounds': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    packs = policy.load_packs([os.path.join(ROOT, 'policies', 'default.yml')])
    assets = [asset for index in range(args.policy_assets // 20) for asset in host_assets(index)]
    rules = sum(1 for pack in packs for rule in pack['rules'] if rule['enabled'])
    pairs = rules * len(assets)
    times = {'candidate': [], 'baseline': []}
    for _round in range(args.policy_rounds):  # interleaved: both see the same load on a shared machine
        elapsed, (findings, _results) = timed(lambda: policy.evaluate(packs, assets, today='2026-11-25'))
        times['candidate'].append(elapsed)
        elapsed, failed = timed(lambda: baseline(packs, assets))
        times['baseline'].append(elapsed)
    cand, base = statistics.median(times['candidate']), statistics.median(times['baseline'])
    if failed != set((f['rule_id'], f['asset_id']) for f in findings):
        sys.exit('policy figure: the candidate and the baseline disagree on the findings')
    print('\ndefault pack (%d rules) over %d assets = %d rule evaluations, one core, median of %d interleaved rounds'
          % (rules, len(assets), pairs, args.policy_rounds))
    print('  baseline  jmespath.search(expression, asset) per call   %.3f s  %10.0f evaluations/s' % (base, pairs / base))
    print('  candidate policy.evaluate (compiled, kind pre-filter)   %.3f s  %10.0f evaluations/s (target >= 200,000)'
          % (cand, pairs / cand))
    print('  ratio     %.1fx faster than the baseline (target >= 10x); %d findings' % (base / cand, len(findings)))
    found = [targets.check('policy: rule evaluations per second, one core', pairs / cand, '>=', 200000, '/s'),
             targets.check('policy: policy.evaluate speed-up over per-call jmespath', base / cand, '>=', 10)]
    return {'figure': 'policy_eval_vs_uncompiled_jmespath', 'rules': rules, 'assets': len(assets),
            'rule_evaluations': pairs, 'findings': len(findings), 'rounds': args.policy_rounds,
            'baseline_median_s': round(base, 4), 'candidate_median_s': round(cand, 4),
            'candidate_evaluations_per_s': int(pairs / cand), 'baseline_evaluations_per_s': int(pairs / base),
            'ratio': round(base / cand, 2), 'targets': found}


def add_arguments(parser):
    parser.add_argument('--policy-assets', type=int, default=10000, help='assets in the policy figure (20 per host)')
    parser.add_argument('--policy-rounds', type=int, default=5, help='interleaved timed rounds of the policy figure (median)')

"""Figure: discovery of a host running N containers (default 20), with and without container context.

Each container runs a vLLM-like server (so each asks for container context), published on a
random port of the host's loopback. The discovery engine runs in this process as root, the
way ai_asset_facts runs it on the host (the module's own start-up, the same with and without,
would only dilute the ratio): the model_server, vector_db and model_artifact probes, one run
with container_context and one without per round, the order alternating, median wall time.
The run with context must have found every container (name, image, published port) for the
figure to count. Target: <= 1.5x.
"""

import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

from ansible_collections.aigov.core.plugins.module_utils.discovery import probes  # noqa: E402
from tests.hosts import testhosts  # noqa: E402

import targets  # noqa: E402  (bench/, on sys.path when run by bench/run.py)

FAKE_SERVERS = os.path.join(ROOT, 'tests', 'fixtures', 'fake_servers')
PROBES = ('model_server', 'vector_db', 'model_artifact')


def discover(with_context, hash_cache):
    options = {'proc_root': '/proc', 'container_context': with_context, 'artifact_roots': [], 'hash_cache': hash_cache,
               'http_probe': False, 'http_timeout': 2.0, 'check_mode': True}
    start = time.perf_counter()
    assets = []
    for name in PROBES:
        assets.extend(probes.run_probe(name, options, 'bench', 'bench')[0])
    return time.perf_counter() - start, assets


def mine(assets, prefix):
    return [asset for asset in assets if asset['kind'] == 'model_server'
            and ((asset['attributes'].get('container') or {}).get('name') or '').startswith(prefix)]


def _wait_for_servers(prefix, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mine(discover(True, os.devnull)[1], prefix)
        if len(found) == count and all(asset['attributes']['listeners'] for asset in found):
            return found
        time.sleep(1)
    sys.exit('only %d of %d containerised servers came up' % (len(found), count))


SMOKE = {'containers': 2, 'container_rounds': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    if os.geteuid() != 0:
        sys.exit('the container discovery figure runs as root (it discovers this host, as ai_asset_facts does as root)')
    prefix = 'aigov-bench-ct%d-' % os.getpid()
    image = testhosts.ensure_image()
    try:
        for index in range(args.containers):
            testhosts.podman(['run', '-d', '--name', '%s%d' % (prefix, index), '--label', 'aigov.bench=' + prefix,
                              '-p', '127.0.0.1::8000', '-v', '%s:/opt/fake:ro' % FAKE_SERVERS, '-e', 'PYTHONPATH=/opt/fake',
                              image, 'python3', '-m', 'vllm.entrypoints.openai.api_server', '--host', '0.0.0.0',
                              '--port', '8000'])
        found = _wait_for_servers(prefix, args.containers)
        assert all(asset['attributes']['container']['ports'] for asset in found), 'a container without its published port'
        times = {True: [], False: []}
        for index in range(args.container_rounds):
            for flag in ((True, False) if index % 2 else (False, True)):
                seconds, assets = discover(flag, os.devnull)
                times[flag].append(seconds)
                if flag:
                    assert len(mine(assets, prefix)) == args.containers, 'a round with context missed a container'
    finally:
        for name in testhosts.podman(['ps', '-a', '-q', '--filter', 'label=aigov.bench=' + prefix], check=False).stdout.split():
            testhosts.podman(['rm', '--force', '--time', '0', name], check=False)
    base, cand = statistics.median(times[False]), statistics.median(times[True])
    figure = {'figure': 'container_discovery', 'containers': args.containers, 'rounds': args.container_rounds,
              'baseline_median_s': round(base, 4), 'candidate_median_s': round(cand, 4), 'ratio': round(cand / base, 3)}
    print('\ndiscovery (model_server, vector_db, model_artifact probes) of this host with %d running containers, '
          '%d interleaved rounds, median' % (args.containers, args.container_rounds))
    print('  baseline  without container context   %.3f s' % base)
    print('  candidate with container context      %.3f s' % cand)
    figure['targets'] = [targets.check('containers: discovery with container context vs without', cand / base, '<=', 1.5)]
    return figure


def add_arguments(parser):
    parser.add_argument('--containers', type=int, default=20, help='running containers of the container discovery figure')
    parser.add_argument('--container-rounds', type=int, default=9, help='interleaved rounds of the container discovery figure')

"""Figure: the ai_asset_facts module against the setup module (what
gather_facts runs), on the same real container hosts over SSH, interleaved
round by round so machine noise hits both alike; median task time per host
taken from ansible-runner's per-task event durations. Every host holds a
2 GB model file and one host a vLLM-like server; a warm-up run fills the
hash cache, so the figure is discovery with a warm cache (target <= 1.0).
"""

import os
import statistics
import sys
import tempfile

import ansible_runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import targets  # noqa: E402
from tests.hosts import testhosts  # noqa: E402  (needs ROOT on sys.path)

FAKE_SERVERS = os.path.join(ROOT, 'tests', 'fixtures', 'fake_servers')
CANDIDATE, BASELINE = 'aigov.core.ai_asset_facts', 'ansible.builtin.setup'
SMOKE = {'hosts': 1, 'rounds': 1}  # bench/run.py --smoke


def playbook(rounds):
    tasks = []
    for index in range(rounds):
        # Alternate which runs first so neither always gets the warm cache.
        pair = (BASELINE, CANDIDATE) if index % 2 == 0 else (CANDIDATE, BASELINE)
        tasks += ['    - name: "%s round %d"\n      %s:\n' % (action, index, action) for action in pair]
    return ('---\n- name: Benchmark\n  hosts: testhosts\n  gather_facts: false\n  tasks:\n'
            '    - name: Warm up the SSH connection and the module cache\n      %s:\n' % CANDIDATE + ''.join(tasks))


def measure(inventory, rounds, workdir):
    data_dir = os.path.join(workdir, 'runner')
    os.makedirs(os.path.join(data_dir, 'project'))
    with open(os.path.join(data_dir, 'project', 'bench.yml'), 'w') as handle:
        handle.write(playbook(rounds))
    envvars = {key: os.environ[key] for key in ('ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_SSH_CONTROL_PATH_DIR')
               if key in os.environ}  # the control path directory: bench/run.py's scratch()
    # ansible-runner runs the ansible-playbook on PATH: this interpreter's, as the other figures do (also outside make)
    envvars.update(ANSIBLE_HOST_KEY_CHECKING='False',
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    run = ansible_runner.run(private_data_dir=data_dir, playbook='bench.yml', inventory=inventory, envvars=envvars,
                             quiet=True, timeout=900)
    if run.rc != 0:
        sys.exit('benchmark playbook failed (rc %s):\n%s' % (run.rc, run.stdout.read()[-2000:]))
    durations = {BASELINE: [], CANDIDATE: []}
    for event in run.events:
        data = event.get('event_data', {})
        if event['event'] == 'runner_on_ok' and ' round ' in data.get('task', ''):
            durations[data['task_action']].append(float(data['duration']))
    return durations


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-')
    with testhosts.test_hosts(args.hosts, 'aigov-bench-%d' % os.getpid(), workdir) as hosts:
        # Give the probes something real to find: a 2 GB GGUF model file on every
        # host (sparse: the bench measures the warm cache, not the disk) and a
        # vLLM-like server on the first host.
        for host in hosts:
            testhosts.run_in(host, ['sh', '-c', 'mkdir -p /models && printf GGUF > /models/big.gguf && truncate -s 2G /models/big.gguf'])
        testhosts.copy_into(hosts[0], FAKE_SERVERS, '/opt/fake')
        testhosts.run_in(hosts[0], ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--host', '0.0.0.0', '--port', '8000'],
                         detach=True, env={'PYTHONPATH': '/opt/fake'})
        inventory = str(testhosts.write_inventory(hosts, os.path.join(workdir, 'inventory.json')))
        durations = measure(inventory, args.rounds, workdir)

    base = statistics.median(durations[BASELINE])
    cand = statistics.median(durations[CANDIDATE])
    figure = {
        'figure': 'ai_asset_facts_vs_setup',
        'hosts': args.hosts, 'rounds': args.rounds, 'samples': len(durations[CANDIDATE]),
        'baseline_median_s': round(base, 4), 'candidate_median_s': round(cand, 4), 'ratio': round(cand / base, 3),
    }
    print('\nai_asset_facts (warm hash cache, 2 GB model file) vs setup (gather_facts) on %d container hosts over SSH,'
          ' %d rounds, median task time' % (args.hosts, args.rounds))
    print('  baseline  ansible.builtin.setup       %.3f s' % base)
    print('  candidate aigov.core.ai_asset_facts   %.3f s' % cand)
    print('  ratio     %.2fx the baseline (lower is faster; target <= 1.0)' % (cand / base))
    figure['targets'] = [targets.check('discovery: ai_asset_facts time / setup time', cand / base, '<=', 1.0)]
    return figure


def add_arguments(parser):
    parser.add_argument('--hosts', type=int, default=2, help='container hosts for the discovery figure')
    parser.add_argument('--rounds', type=int, default=7, help='interleaved rounds of the discovery figure')

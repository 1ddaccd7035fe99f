"""Figure: aigov.core.compliance_scan on N real container hosts over SSH against the same
checks written as plain Ansible (bench/assert_baseline.yml: gather with command/find/stat
per host, one ansible.builtin.assert per rule and item), interleaved round by round;
median wall time of the whole ansible-playbook run (target: the scan >= 5x faster).

Every host carries the same planted violations: an exposed vLLM-like server, a model
file with an unapproved digest, a pickle that calls os.system and a world-readable .env
with a provider key. Both sides run with the same forks, SSH settings and inventory.
The baseline checks less than the scan (no registry, no redaction, no fingerprints,
fewer locations), so the ratio is conservative.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import targets  # noqa: E402
from tests.hosts import testhosts  # noqa: E402  (needs ROOT on sys.path)

BIN = os.path.dirname(sys.executable)
FAKE_SERVERS = os.path.join(ROOT, 'tests', 'fixtures', 'fake_servers')
BASELINE_PLAYBOOK = os.path.join(ROOT, 'bench', 'assert_baseline.yml')
KEY = 'sk-proj-aigovBENCHenvfile000000000001'
PLANT = r'''
set -e
mkdir -p /models /srv/models /srv/agent
printf 'GGUF\003\000\000\000' > /models/llama.gguf && head -c 4096 /dev/zero >> /models/llama.gguf
python3 -c "
import os, pickle
class R:
    def __reduce__(self):
        return (os.system, ('true',))
open('/srv/models/poisoned.pkl', 'wb').write(pickle.dumps({'w': [0.1], 'hook': R()}, protocol=4))
"
printf 'OPENAI_API_KEY=%s\n' "$AIGOV_KEY" > /srv/agent/.env && chmod 0644 /srv/agent/.env
'''
REGISTRY = ('schema_version: 1\nuse_cases:\n  - id: bench\n    risk_tier: limited\n'
            '    approved_models: [{name: llama, sha256: "%s"}]\n    assets: [{kind: model_artifact, name: llama.gguf}]\n' % ('0' * 64))


def plant(hosts):
    for host in hosts:
        result = testhosts.run_in(host, ['sh', '-c', PLANT], env={'AIGOV_KEY': KEY})
        if result.returncode != 0:
            sys.exit('planting on %s failed: %s' % (host.name, result.stderr))
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        testhosts.run_in(host, ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--host', '0.0.0.0', '--port', '8000'],
                         detach=True, env={'PYTHONPATH': '/opt/fake'})
    for host in hosts:
        testhosts.run_in(host, ['python3', '-c', 'import socket,time\nfor _ in range(100):\n    s=socket.socket()\n'
                                '    if s.connect_ex(("127.0.0.1",8000))==0: break\n    time.sleep(0.1)\n'])


def playbook_run(argv, env, workdir):
    started = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook')] + argv, env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=1800, check=False)
    return time.monotonic() - started, proc


SMOKE = {'scan_hosts': 1, 'scan_rounds': 1, 'scan_forks': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-scan-')
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_FORKS=str(args.scan_forks), ANSIBLE_NOCOLOR='1')
    registry = os.path.join(workdir, 'registry.yml')
    with open(registry, 'w') as handle:
        handle.write(REGISTRY)
    with testhosts.test_hosts(args.scan_hosts, 'aigov-bscan-%d' % os.getpid(), workdir) as hosts:
        plant(hosts)
        inventory = str(testhosts.write_inventory(hosts, os.path.join(workdir, 'inventory.json')))
        commands = {
            'scan': ['-i', inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                     '-e', 'aigov_report_dir=%s' % os.path.join(workdir, 'reports'), '-e', 'aigov_registry=%s' % registry],
            'assert': ['-i', inventory, BASELINE_PLAYBOOK],
        }
        times = {'scan': [], 'assert': []}
        findings = {}
        for index in range(args.scan_rounds + 1):  # round 0 warms SSH and the hash cache, not counted
            for which in (('assert', 'scan') if index % 2 == 0 else ('scan', 'assert')):
                elapsed, proc = playbook_run(commands[which], env, workdir)
                if which == 'scan' and proc.returncode != 0 or which == 'assert' and proc.returncode not in (0, 2):
                    sys.exit('%s run failed (rc %s):\n%s' % (which, proc.returncode, proc.stdout[-3000:]))
                if KEY in proc.stdout + proc.stderr:
                    sys.exit('%s run printed the planted key' % which)
                if index:
                    times[which].append(elapsed)
                findings[which] = proc.stdout
    # Both must have seen the four planted violations on every host, or the comparison means nothing.
    failed_asserts = len(re.findall(r'^failed: \[', findings['assert'], re.M))
    with open(os.path.join(workdir, 'reports', 'compliance-report.json')) as handle:
        scan_findings = len(json.load(handle)['findings'])
    if failed_asserts != 4 * args.scan_hosts or scan_findings < 4 * args.scan_hosts:
        sys.exit('expected 4 violations per host, the baseline found %d and the scan %d on %d hosts'
                 % (failed_asserts, scan_findings, args.scan_hosts))
    base, cand = statistics.median(times['assert']), statistics.median(times['scan'])
    print('\ncompliance scan of %d container hosts over SSH (forks %d), %d interleaved rounds, median wall time'
          % (args.scan_hosts, args.scan_forks, args.scan_rounds))
    print('  baseline  plain command/find/stat + assert tasks  %.2f s  (%d failed asserts per run)' % (base, failed_asserts))
    print('  candidate aigov.core.compliance_scan              %.2f s  (%d findings per run)' % (cand, scan_findings))
    print('  ratio     %.2fx faster than the baseline (higher is faster; target >= 5)' % (base / cand))
    found = [targets.check('scan: assert tasks time / compliance_scan time', base / cand, '>=', 5)]
    return {'figure': 'compliance_scan_vs_assert_tasks', 'hosts': args.scan_hosts, 'forks': args.scan_forks,
            'rounds': args.scan_rounds, 'baseline_median_s': round(base, 3), 'candidate_median_s': round(cand, 3),
            'baseline_failed_asserts': failed_asserts, 'candidate_findings': scan_findings, 'speedup': round(base / cand, 3),
            'targets': found}


def add_arguments(parser):
    parser.add_argument('--scan-hosts', type=int, default=20, help='container hosts in the scan figure')
    parser.add_argument('--scan-rounds', type=int, default=3, help='interleaved rounds of the scan figure')
    parser.add_argument('--scan-forks', type=int, default=20, help='ansible forks for both sides of the scan figure')

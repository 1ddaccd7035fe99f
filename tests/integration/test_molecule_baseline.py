"""The molecule scenario extensions/molecule/ai_baseline, run by the real molecule CLI.

Molecule starts two real container hosts, plants violations (prepare), audits and
runs enforce in check mode with file hashes before/after (side_effect), enforces
(converge), enforces again expecting no change (idempotence) and checks the hosts
with plain tools (verify). Here: every step succeeded, and the planted secret
values appear nowhere in the output, diffs included (ANSIBLE_DIFF_ALWAYS).
"""

import os
import re
import signal
import subprocess
import tempfile

from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import BIN
from tests.integration.test_molecule import ANSI

TIMEOUT = 600
SCENARIO = 'ai_baseline'
# Planted by extensions/molecule/ai_baseline/prepare.yml.
SECRETS = ('sk-proj-aigovBASELINEenv000000000001', 'ghp_aigovBASELINEmcp00000000000000000002')


def run_molecule(env):
    """Run `molecule test -s ai_baseline` in its own session; return (exit code or None on timeout, output)."""
    proc = subprocess.Popen([os.path.join(BIN, 'molecule'), 'test', '-s', SCENARIO], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output = proc.communicate(timeout=TIMEOUT)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return None, ANSI.sub('', proc.communicate()[0] + '\n[molecule killed after %d s]' % TIMEOUT)
    return proc.returncode, ANSI.sub('', output)


def test_molecule_ai_baseline_scenario(ansible_env):
    prefix = 'aigov-base-%d' % os.getpid()
    with tempfile.TemporaryDirectory(prefix='aigov-mol-') as ephemeral:
        env = dict(ansible_env, AIGOV_MOLECULE_PREFIX=prefix, MOLECULE_EPHEMERAL_DIRECTORY=ephemeral, NO_COLOR='1')
        env.pop('MOLECULE_GLOB', None)
        try:
            code, output = run_molecule(env)
        finally:
            leftovers = testhosts.stop_hosts(prefix)
    tail = '\n'.join(output.splitlines()[-120:])
    assert code == 0, 'molecule test exit %s:\n%s' % (code, tail)
    for step in ('create', 'prepare', 'side_effect', 'converge', 'idempotence', 'verify', 'destroy'):
        assert re.search(r'%s \S+ %s: Executed: Successful' % (SCENARIO, step), output), '%s failed:\n%s' % (step, tail)
    # The steps' checks ran (a renamed task must not silently drop them).
    for task in ('Check audit found exactly the planted violations',
                 'Check the disruptive remediations did not run and are reported as skipped',
                 'Check every file is byte-identical, with the same mode, and nothing was created',
                 'Check the server listens on loopback only, restarted without dev mode',
                 'Check the keys left the configs, sit in their secret files, and the wrapper hands the token over'):
        assert 'TASK [%s]' % task in output, task
    # Real diffs were shown (the leak check below would be empty otherwise).
    assert '+++ after: /etc/aigov-test/vllm.env' in output
    for secret in SECRETS:
        assert secret not in output, 'a planted secret was printed'
    assert leftovers == [], 'containers left behind by destroy: %s' % leftovers

"""The molecule scenario extensions/molecule/compliance_scan, run by the real molecule CLI.

Molecule starts two real container hosts through tests/hosts/testhosts.py, runs a
vLLM-like server on the first, scans both with the installed collection's
compliance_scan playbook and checks the report in its verify step.
"""

import os
import re
import signal
import subprocess
import tempfile

from tests.conftest import ROOT
from tests.hosts import testhosts
from tests.integration.conftest import BIN

TIMEOUT = 300
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;;[^\x1b]*\x1b\\')


def run_molecule(env, timeout=TIMEOUT):
    """Run `molecule test -s compliance_scan` from the collection root; return (exit code, output).

    Runs in its own session so that a timeout kills ansible-playbook and ssh too.
    """
    proc = subprocess.Popen([os.path.join(BIN, 'molecule'), 'test', '-s', 'compliance_scan'], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
        output += '\n[molecule killed after %d s]' % timeout
        return None, ANSI.sub('', output)
    return proc.returncode, ANSI.sub('', output)


def test_molecule_compliance_scan_scenario(ansible_env):
    prefix = 'aigov-mol-%d' % os.getpid()
    with tempfile.TemporaryDirectory(prefix='aigov-mol-') as ephemeral:
        env = dict(ansible_env,
                   AIGOV_MOLECULE_PREFIX=prefix,             # container names <prefix>-1, <prefix>-2
                   MOLECULE_EPHEMERAL_DIRECTORY=ephemeral,   # no state shared with other runs
                   NO_COLOR='1')
        env.pop('MOLECULE_GLOB', None)  # the collection layout must be discovered
        try:
            code, output = run_molecule(env)
        finally:
            # Destroy runs even when a step fails; this catches a killed run.
            leftovers = testhosts.stop_hosts(prefix)
    tail = '\n'.join(output.splitlines()[-80:])
    assert code == 0, 'molecule test exit %s:\n%s' % (code, tail)
    for step in ('create', 'prepare', 'converge', 'verify', 'destroy'):
        # molecule's recap line, e.g. "compliance_scan > verify: Executed: Successful"
        assert re.search(r'compliance_scan \S+ %s: Executed: Successful' % step, output), '%s failed:\n%s' % (step, tail)
    assert "TASK [Check the findings are the exposed server's, on the first host]" in output
    assert leftovers == [], 'containers left behind by destroy: %s' % leftovers

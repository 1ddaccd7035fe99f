"""The main job as `make demo` runs it: a scan of the control node itself (local connection)."""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.contracts import validate
from tests.integration.conftest import FAKE_SERVERS, PLANTED_SECRETS, load_json
from tests.ports import free_port


@pytest.fixture
def local_vllm():
    """A vLLM-like process on this machine, bound to loopback only, with a key in its environment."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=FAKE_SERVERS, VLLM_API_KEY=PLANTED_SECRETS[0])
    proc = subprocess.Popen([sys.executable, '-m', 'vllm.entrypoints.openai.api_server', '--model', 'local/test',
                             '--host', '127.0.0.1', '--port', str(port)], env=env)
    deadline = time.monotonic() + 15
    while socket.socket().connect_ex(('127.0.0.1', port)) != 0:
        assert time.monotonic() < deadline and proc.poll() is None, 'fake vLLM did not start'
        time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_demo_scan_of_localhost(ansible, local_vllm, tmp_path):
    proc = ansible.playbook('-i', os.path.join(ROOT, 'examples', 'localhost.yml'), 'aigov.core.compliance_scan',
                            '-e', 'aigov_report_dir=%s' % tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = load_json(str(tmp_path / 'compliance-report.json'))
    validate(report, 'compliance-report.v1.json')
    servers = [a for a in report['assets'] if a['kind'] == 'model_server']
    mine = [a for a in servers if local_vllm in [item['port'] for item in a['attributes']['listeners'] or []]]
    assert len(mine) == 1
    assert mine[0]['attributes']['auth'] == 'configured' and mine[0]['attributes']['exposed'] is False
    # Loopback with a key: not exposed. What remains is governance: no registry claims it (shadow AI),
    # and it runs as whoever runs the test.
    expected = {'AIGOV-GV-001'} | ({'AIGOV-MS-010'} if os.getuid() == 0 else set())
    assert {f['rule_id'] for f in report['findings'] if f['asset_id'] == mine[0]['id']} == expected
    assert report['scope']['hosts_scanned'] == ['localhost']
    keys = [a for a in report['assets'] if a['kind'] == 'credential' and a['attributes']['variable'] == 'VLLM_API_KEY']
    assert any('vllm.entrypoints' in a['attributes']['location'] for a in keys)
    assert not any(secret in proc.stdout for secret in PLANTED_SECRETS)

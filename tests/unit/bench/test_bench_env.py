"""The discovery figure's ansible runs find this interpreter's ansible-playbook, as the other figures' do: run outside
make, with no virtualenv on PATH, the figure failed with "ansible-playbook not found"."""

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'bench')
sys.path.insert(0, BENCH)

import discovery_vs_setup  # noqa: E402  pylint: disable=wrong-import-position


def test_the_discovery_figure_runs_the_ansible_playbook_beside_its_interpreter(monkeypatch, tmp_path):
    seen = {}

    def run(**kwargs):
        seen.update(kwargs['envvars'])
        raise RuntimeError('stop here: only the environment is looked at')
    monkeypatch.setattr(discovery_vs_setup.ansible_runner, 'run', run)
    monkeypatch.setenv('PATH', '/usr/bin:/bin')
    monkeypatch.setenv('ANSIBLE_SSH_CONTROL_PATH_DIR', '/tmp/aigov-cp-x')
    with pytest.raises(RuntimeError):
        discovery_vs_setup.measure(str(tmp_path / 'hosts.yml'), 1, str(tmp_path))
    assert seen['PATH'].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert seen['ANSIBLE_SSH_CONTROL_PATH_DIR'] == '/tmp/aigov-cp-x'

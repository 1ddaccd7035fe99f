"""Integration tests of the test host harness itself: real containers, real SSH, real Ansible."""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.hosts import testhosts

SCRIPT = Path(testhosts.__file__)
SSH_ARGS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")


def _prefix(name):
    return f"aigov-t{os.getpid()}-{name}"


def _containers(prefix):
    result = subprocess.run(["podman", "ps", "-a", "--quiet", "--filter", f"label={testhosts.LABEL}={prefix}"],
                            env={**os.environ, "CONTAINERS_CONF": str(testhosts.cache_dir() / "containers.conf")},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.split()


@pytest.fixture(name="hosts", scope="module")
def fixture_hosts(tmp_path_factory):
    """Two running hosts for the whole module."""
    prefix = _prefix("pair")
    with testhosts.test_hosts(2, prefix, tmp_path_factory.mktemp("hosts")) as started:
        yield started
    assert not _containers(prefix)


def test_hosts_answer_over_ssh_with_their_own_hostname(hosts):
    """Each host is reached over real SSH with the generated key and is a distinct machine."""
    names = []
    for host in hosts:
        result = subprocess.run(["ssh", "-i", host.identity_file, *SSH_ARGS, "-p", str(host.port), f"{host.user}@{host.address}", "hostname"],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        names.append(result.stdout.strip())
    assert names == [host.name for host in hosts]
    assert len(set(names)) == 2


def test_inventory_works_with_ansible_ping(hosts, tmp_path):
    """The written inventory lets real Ansible reach every host; extra hostvars are merged."""
    inventory = testhosts.write_inventory(hosts, tmp_path / "inventory.yml", hostvars={hosts[0].name: {"marker": "first"}})
    assert json.loads(inventory.read_text(encoding="utf-8"))["all"]["children"]["testhosts"]["hosts"][hosts[0].name]["marker"] == "first"
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    with tempfile.TemporaryDirectory(prefix="aigov-cp-", dir="/tmp") as control_dir:  # sockets need a short path
        env = {**os.environ, "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir, "ANSIBLE_HOST_KEY_CHECKING": "False"}
        result = subprocess.run([ansible, "-i", str(inventory), "all", "-m", "ansible.builtin.ping"],
                                env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = dict(re.findall(r"^(\S+) \| (\w+) =>", result.stdout, re.MULTILINE))
    assert statuses == {host.name: "SUCCESS" for host in hosts}
    assert result.stdout.count('"ping": "pong"') == 2


def test_hosts_are_removed_even_when_the_body_raises(tmp_path):
    """The context manager removes its containers when the body fails."""
    prefix = _prefix("raise")
    with pytest.raises(RuntimeError, match="on purpose"):
        with testhosts.test_hosts(1, prefix, tmp_path) as started:
            assert _containers(prefix)
            assert testhosts.run_in(started[0], ["hostname"]).stdout.strip() == started[0].name
            raise RuntimeError("on purpose")
    assert not _containers(prefix)


def test_cli_up_and_down_print_molecule_instance_config(tmp_path):
    """The CLI prints exactly the instance config molecule expects, and down removes the hosts."""
    prefix = _prefix("cli")
    inventory = tmp_path / "inventory.yml"
    try:
        up = subprocess.run([sys.executable, str(SCRIPT), "up", "--count", "1", "--prefix", prefix, "--workdir", str(tmp_path), "--inventory", str(inventory)],
                            capture_output=True, text=True, timeout=300, check=False)
        assert up.returncode == 0, up.stderr
        instances = json.loads(up.stdout)
        assert [sorted(item) for item in instances] == [["address", "identity_file", "instance", "port", "user"]]
        assert instances[0]["instance"] == f"{prefix}-1"
        assert (instances[0]["user"], instances[0]["port"]) == ("root", 22)
        assert Path(instances[0]["identity_file"]).is_file()
        assert instances[0]["address"] in inventory.read_text(encoding="utf-8")
    finally:
        down = subprocess.run([sys.executable, str(SCRIPT), "down", "--prefix", prefix], capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    assert not _containers(prefix)


def test_cli_reports_errors_in_one_line_without_traceback(tmp_path):
    """CLI failures are one line on stderr, nothing on stdout, exit 1."""
    result = subprocess.run([sys.executable, str(SCRIPT), "up", "--count", "0", "--prefix", _prefix("bad"), "--workdir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("testhosts: error: ") and result.stderr.count("\n") == 1

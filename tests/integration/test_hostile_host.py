"""Discovery on a real host where an unprivileged user plants what breaks parsers (issue 21, finding 7).

As root, the host runs a model server and holds a model file, a virtualenv and an MCP config. The local
user mallory plants, in their home and in /tmp: a FIFO as a virtualenv's pyvenv.cfg and another as a
dist-info METADATA, a 64 GiB sparse .safetensors, a deeply nested MCP config, a zip bomb .pt, a truncated
.gguf, and runs a process whose argv[0] is 128 KiB long; a vLLM-like server drips its HTTP answer a byte at
a time. ai_asset_facts, run as root over SSH, must finish within its budgets, name the planted files in
its problems, and still report the host's real assets.
"""

import json
import os
import struct
import time
import zipfile

import pytest

from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, VLLM, start_server, wait_listening

HOME = '/home/mallory'
HUB = HOME + '/.cache/huggingface/hub'
DRIPPER = r'''
import socket, sys, threading, time
def drip(connection):
    connection.recv(4096)
    try:
        for byte in b'HTTP/1.1 200 OK\r\nX-Slow: ' + b'a' * 1000000:
            connection.sendall(bytes([byte]))
            time.sleep(0.2)
    except OSError:
        pass
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('127.0.0.1', int(sys.argv[sys.argv.index('--port') + 1])))
listener.listen(8)
while True:
    threading.Thread(target=drip, args=(listener.accept()[0],), daemon=True).start()
'''


def zip_bomb(path, size=512 * 1024 * 1024):
    """A PyTorch-style archive whose data.pkl declares and holds SIZE bytes (zeros: it stays small)."""
    with zipfile.ZipFile(str(path), 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open('archive/data.pkl', 'w', force_zip64=True) as member:
            member.write(b'\x80\x02\x8e' + struct.pack('<Q', size))
            chunk = b'\0' * (16 * 1024 * 1024)
            for _index in range(size // len(chunk)):
                member.write(chunk)


def of_kind(assets, kind):
    return [asset for asset in assets if asset['kind'] == kind]


def as_mallory(host, script):
    result = testhosts.run_in(host, ['runuser', '-u', 'mallory', '--', 'sh', '-c', script])
    assert result.returncode == 0, result.stderr


def planted_files(folder):
    """The files mallory plants, built here: {name: bytes}; moved into place on the host by mallory."""
    header = b'{"w": {}, "__metadata__": {}}'
    files = {
        'truncated.gguf': b'GGUF' + struct.pack('<I', 3) + b'\0' * 8,
        'huge.safetensors': struct.pack('<Q', len(header)) + header,
        'claude.json': b'{"mcpServers": ' + b'[' * 100000 + b']' * 100000 + b'}',
        'api_server.py': DRIPPER.encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    zip_bomb(folder / 'bomb.pt')


@pytest.fixture(scope='module')
def hostile_host(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('hostile')
    local = workdir / 'plant'
    local.mkdir()
    planted_files(local)
    with testhosts.test_hosts(1, 'aigov-hostile-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        # What really runs on the host, as root: a model server, a model file, a virtualenv, an MCP config.
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        start_server(host, VLLM + ['--port', '8000'])
        (workdir / 'llama.gguf').write_bytes(b'GGUF' + struct.pack('<IQQ', 3, 1, 2) + b'\0' * 64)
        testhosts.run_in(host, ['mkdir', '-p', '/models', '/root/.cursor'])
        testhosts.copy_into(host, workdir / 'llama.gguf', '/models/llama.gguf')
        testhosts.run_in(host, ['sh', '-c', 'mkdir -p /opt/agent/venv/lib/python3.11/site-packages/openai-1.54.3.dist-info && '
                                'echo "home = /usr/bin" > /opt/agent/venv/pyvenv.cfg && '
                                'echo \'{"mcpServers": {"fs": {"command": "npx"}}}\' > /root/.cursor/mcp.json'])
        # What an unprivileged user plants, in their home and in /tmp, and runs.
        assert testhosts.run_in(host, ['useradd', '-m', 'mallory']).returncode == 0
        testhosts.copy_into(host, local, '/tmp/plant')
        testhosts.run_in(host, ['chown', '-R', 'mallory:mallory', '/tmp/plant'])
        as_mallory(host, ' && '.join([
            'mkdir -p %s /tmp/mallory-models %s/venv/lib/python3.11/site-packages/openai-1.0.0.dist-info' % (HUB, HOME),
            'mkfifo %s/venv/pyvenv.cfg' % HOME,
            'mv /tmp/plant/bomb.pt /tmp/plant/truncated.gguf /tmp/mallory-models/',
            'mv /tmp/plant/huge.safetensors %s/ && truncate -s 64G %s/huge.safetensors' % (HUB, HUB),
            'mv /tmp/plant/claude.json %s/.claude.json' % HOME,
            'mkdir -p %s/agent/lib/python3.11/site-packages/openai.dist-info && echo "home = /usr/bin" > %s/agent/pyvenv.cfg'
            % (HOME, HOME),
            'mkfifo %s/agent/lib/python3.11/site-packages/openai.dist-info/METADATA' % HOME,
        ]))
        # A server that drips its answer, under vLLM's command line. It runs as root: this container has no
        # CAP_SYS_PTRACE, so root cannot see the network namespace of another user's process and would not probe it.
        testhosts.run_in(host, ['sh', '-c', 'mkdir -p /opt/drip/vllm/entrypoints/openai && cd /opt/drip/vllm && touch __init__.py '
                                'entrypoints/__init__.py entrypoints/openai/__init__.py && '
                                'cp /tmp/plant/api_server.py entrypoints/openai/api_server.py'])
        start_server(host, ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--port', '8500'], env={'PYTHONPATH': '/opt/drip'})
        testhosts.run_in(host, ['runuser', '-u', 'mallory', '--', 'bash', '-c',
                                'exec -a "$(printf "a%.0s" $(seq 131000))" sleep 900'], detach=True)
        wait_listening(host, 8000)
        wait_listening(host, 8500)
        yield host, str(testhosts.write_inventory(hosts, workdir / 'inventory.json'))


def test_discovery_survives_what_a_local_user_plants(ansible, hostile_host):
    _host, inventory = hostile_host
    args = {'http_probe': True, 'http_timeout': 1.0, 'hash_budget': 5, 'probe_timeout': 60,
            'artifact_roots': ['/models', '~/.cache/huggingface/hub', '/tmp/mallory-models']}
    started = time.monotonic()
    proc = ansible.run('ansible', '-i', inventory, 'testhosts', '-m', 'aigov.core.ai_asset_facts', '-a', json.dumps(args),
                       timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:]
    facts = json.loads(proc.stdout[proc.stdout.index('{'):])['ansible_facts']
    problems = facts['ai_discovery']['problems']
    assert elapsed < 60, 'took %ds' % elapsed
    # Every planted file is named in a problem, and nothing of it stopped a probe.
    expected = [
        'ai_package: skipped %s/venv (its pyvenv.cfg is not a regular file)' % HOME,
        'model_artifact: hash_budget ran out while hashing %s/huge.safetensors (68719476736 bytes); not hashed' % HUB,
        'model_artifact: /tmp/mallory-models/truncated.gguf looks like gguf but could not be parsed',
        'mcp_server: skipped malformed JSON in %s/.claude.json (JSON nested deeper than 64 levels)' % HOME,
    ]
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    assert any('port 8500' in problem and 'timed out after 1s' in problem for problem in problems), problems  # the drip
    assert not [problem for problem in problems if 'the probe failed' in problem or 'probe_timeout' in problem], problems
    assets = facts['ai_assets']
    artifacts = dict((a['attributes']['path'], a['attributes']) for a in of_kind(assets, 'model_artifact'))
    assert artifacts['/models/llama.gguf']['sha256'] and artifacts['/models/llama.gguf']['details']['tensor_count'] == 1
    bomb = artifacts['/tmp/mallory-models/bomb.pt']
    assert bomb['format'] == 'pytorch_zip' and 'declares' in bomb['pickle']['error']
    assert artifacts[HUB + '/huge.safetensors']['sha256'] is None
    # The host's real assets are all still reported.
    servers = dict((a['attributes']['listeners'][0]['port'], a['attributes']) for a in of_kind(assets, 'model_server'))
    assert servers[8000]['http']['models'] == ['facebook/opt-125m'] and servers[8500]['http']['models'] is None
    assert ('openai', '/opt/agent/venv') in [(a['attributes']['package'], a['attributes']['venv']) for a in of_kind(assets, 'ai_package')]
    assert [a['attributes']['config'] for a in of_kind(assets, 'mcp_server')] == ['/root/.cursor/mcp.json']

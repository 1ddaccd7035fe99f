"""Discovery on a host whose users plant what breaks parsers: problems, never a crash or a hang (issue 21, findings 7, 9)."""

import contextlib
import json
import os
import pickle
import signal
import socket
import struct
import threading
import time
import tracemalloc
import zipfile

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common import redaction
from ansible_collections.aigov.core.plugins.module_utils.discovery import (
    artifact_discovery, discovery, http_probe, mcp_discovery, model_files, package_discovery, probes)

from ..fakeproc import FakeProc
from .test_model_files import gguf_bytes, safetensors_bytes

DEEP = '[' * 100000 + ']' * 100000


@contextlib.contextmanager
def within(seconds):
    """Fail (instead of hanging the test run) when the block takes longer than SECONDS."""
    def expire(_signum, _frame):
        raise AssertionError('still running after %ss: it hangs' % seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def artifacts(tmp_path, root, **options):
    options = dict({'artifact_roots': [str(root)], 'hash_cache': str(tmp_path / 'h.json')}, **options)
    with within(20):
        assets, problems = artifact_discovery.discover_model_artifacts(options, 'n', 'm')
    return dict((a['name'], a['attributes']) for a in assets), problems


def safetensors_with(header):
    return struct.pack('<Q', len(header)) + header + b'\0' * 8


@pytest.mark.parametrize('name, data, why', [
    ('truncated.gguf', b'GGUF' + struct.pack('<I', 3) + b'\0' * 8, 'truncated GGUF header'),
    ('metadata-list.safetensors', safetensors_with(b'{"__metadata__": ["x"], "w": {}}'), '__metadata__ is not a JSON object'),
    ('metadata-number.safetensors', safetensors_with(b'{"__metadata__": 7}'), '__metadata__ is not a JSON object'),
    ('deep.safetensors', safetensors_with(b'{"w": ' + DEEP.encode() + b'}'), 'nested deeper than'),
])
def test_a_bad_model_header_is_a_problem_naming_the_file(tmp_path, name, data, why):
    root = tmp_path / 'models'
    root.mkdir()
    (root / name).write_bytes(data)
    (root / 'good.gguf').write_bytes(gguf_bytes())
    found, problems = artifacts(tmp_path, root)
    assert found['good.gguf']['details']['gguf_version'] == 3
    assert found[name]['details'] == {}
    [problem] = [p for p in problems if name in p]
    assert 'could not be parsed' in problem and why in problem


def test_a_fifo_swapped_in_for_a_model_file_is_neither_read_nor_hashed(tmp_path, monkeypatch):
    root = tmp_path / 'models'
    root.mkdir()
    (root / 'real.gguf').write_bytes(gguf_bytes())
    regular = os.lstat(str(root / 'real.gguf'))
    os.mkfifo(str(root / 'swapped.gguf'))
    # What the walk saw was a regular file; by the time it is opened, its user has put a FIFO there.
    monkeypatch.setattr(artifact_discovery, '_candidate_files', lambda *_args: iter(
        [(str(root / 'swapped.gguf'), regular), (str(root / 'real.gguf'), regular)]))
    found, problems = artifacts(tmp_path, root)
    assert sorted(found) == ['real.gguf']
    assert problems == ['model_artifact: cannot read %s (not a regular file)' % (root / 'swapped.gguf')]


def test_a_fifo_being_hashed_is_a_problem_not_a_hang(tmp_path, monkeypatch):
    root = tmp_path / 'models'
    root.mkdir()
    (root / 'm.gguf').write_bytes(gguf_bytes())
    os.mkfifo(str(tmp_path / 'fifo'))

    def swap_after_the_head_was_read(path, _head):
        os.rename(str(tmp_path / 'fifo'), path)
        return 'gguf'
    monkeypatch.setattr(artifact_discovery.model_files, 'detect_format', swap_after_the_head_was_read)
    monkeypatch.setattr(artifact_discovery.model_files, 'describe', lambda path, fmt: ({}, None))
    found, problems = artifacts(tmp_path, root)
    assert found['m.gguf']['sha256'] is None
    assert 'model_artifact: cannot hash %s (not a regular file)' % (root / 'm.gguf') in problems


def test_a_sparse_file_is_hashed_only_while_the_budget_lasts(tmp_path):
    root = tmp_path / 'models'
    root.mkdir()
    with open(str(root / 'huge.safetensors'), 'wb') as handle:
        handle.write(safetensors_bytes())
        handle.truncate(64 * 1024 ** 3)  # 64 GiB of holes: hours of hashing
    started = time.monotonic()
    found, problems = artifacts(tmp_path, root, hash_budget=1)
    assert time.monotonic() - started < 5
    assert found['huge.safetensors']['sha256'] is None and found['huge.safetensors']['details']['tensor_count'] == 1
    assert 'model_artifact: hash_budget ran out while hashing %s (%d bytes); not hashed' % (
        root / 'huge.safetensors', 64 * 1024 ** 3) in problems


def test_a_file_rewritten_in_place_with_its_mtime_restored_is_hashed_again(tmp_path):
    root = tmp_path / 'models'
    root.mkdir()
    target = root / 'approved.gguf'
    target.write_bytes(gguf_bytes())
    before = os.stat(str(target))
    approved = artifacts(tmp_path, root)[0]['approved.gguf']['sha256']
    time.sleep(0.01)
    with open(str(target), 'r+b') as handle:  # same inode, same size, other bytes
        handle.seek(40)
        handle.write(b'backdoor')
    os.utime(str(target), ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(str(target)).st_mtime_ns == before.st_mtime_ns
    after = artifacts(tmp_path, root)[0]['approved.gguf']['sha256']
    assert after != approved


def zip_bomb(path, size):
    """A PyTorch-style archive whose data.pkl declares a string of SIZE bytes and holds them (zeros compress well)."""
    header = b'\x80\x02\x8e' + struct.pack('<Q', size)
    with zipfile.ZipFile(str(path), 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open('archive/data.pkl', 'w', force_zip64=True) as member:
            member.write(header)
            chunk = b'\0' * (16 * 1024 * 1024)
            for _index in range(size // len(chunk)):
                member.write(chunk)
        archive.writestr('archive/version', '3\n')


def test_a_zip_bomb_in_a_pytorch_archive_is_not_decompressed(tmp_path):
    root = tmp_path / 'models'
    root.mkdir()
    zip_bomb(root / 'bomb.pt', 512 * 1024 * 1024)
    assert os.path.getsize(str(root / 'bomb.pt')) < 4 * 1024 * 1024
    tracemalloc.start()
    try:
        found, problems = artifacts(tmp_path, root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, 'decompressed %d bytes into memory' % peak
    report = found['bomb.pt']['pickle']
    assert report['error'] and 'archive/data.pkl' in report['error']


def test_a_zip_declaring_too_many_entries_is_refused_before_zipfile_reads_them(tmp_path):
    end = struct.pack('<4s4H2IH', b'PK\x05\x06', 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    end64 = struct.pack('<4sQ2H2I4Q', b'PK\x06\x06', 44, 45, 45, 0, 0, 10 ** 9, 10 ** 9, 10 ** 12, 4)
    locator = struct.pack('<4sIQI', b'PK\x06\x07', 0, 4, 1)
    (tmp_path / 'many.pt').write_bytes(b'PK\x03\x04' + end64 + locator + end)
    with open(str(tmp_path / 'many.pt'), 'rb') as handle:
        assert model_files.zip_entries(handle) == 10 ** 9
        with pytest.raises(ValueError, match='declares 1000000000 entries'):
            model_files._open_zip(handle)
    with zipfile.ZipFile(str(tmp_path / 'ok.pt'), 'w') as archive:
        archive.writestr('a/data.pkl', pickle.dumps(1, protocol=2))
        archive.writestr('a/version', '3')
    with open(str(tmp_path / 'ok.pt'), 'rb') as handle:
        assert model_files.zip_entries(handle) == 2


def home_with(tmp_path, user_homes, relative, data):
    home = tmp_path / 'home' / 'mallory'
    (home / relative).parent.mkdir(parents=True, exist_ok=True)
    (home / relative).write_bytes(data)
    user_homes(home)
    return home / relative


def test_a_deeply_nested_mcp_config_is_a_problem_naming_it(tmp_path, user_homes):
    path = home_with(tmp_path, user_homes, '.claude.json', ('{"mcpServers": %s}' % DEEP).encode())
    with within(10):
        assets, problems = mcp_discovery.discover_mcp_servers({}, 'n', 'm')
    assert assets == []
    assert problems == ['mcp_server: skipped malformed JSON in %s (JSON nested deeper than 64 levels)' % path]


def test_wrong_typed_mcp_config_fields_count_as_absent(tmp_path, user_homes):
    home_with(tmp_path, user_homes, '.claude.json', json.dumps({
        'mcpServers': {'a': {'command': 'npx', 'args': 5, 'env': ['X'], 'headers': 'h', 'url': {'u': 1}, 'type': []}},
        'projects': {'/p': ['not', 'settings'], '/q': {'mcpServers': ['x']}},
        'servers': 'none'}).encode())
    assets, problems = mcp_discovery.discover_mcp_servers({}, 'n', 'm')
    [asset] = assets
    assert problems == [] and asset['attributes']['command'] == ['npx'] and asset['attributes']['env_names'] == []


def test_a_fifo_mcp_config_is_a_problem_not_a_hang(tmp_path, user_homes):
    home = tmp_path / 'home' / 'mallory'
    home.mkdir(parents=True)
    os.mkfifo(str(home / '.claude.json'))
    user_homes(home)
    with within(10):
        assets, problems = mcp_discovery.discover_mcp_servers({}, 'n', 'm')
    assert assets == [] and problems == ['mcp_server: refusing to read %s: not a regular file' % (home / '.claude.json')]


def python_server(tmp_path, cfg):
    """A process running from a venv whose pyvenv.cfg is CFG (a callable planting it)."""
    venv = tmp_path / 'venv'
    site = venv / 'lib' / 'python3.11' / 'site-packages'
    (site / 'vllm-0.6.3.dist-info').mkdir(parents=True)
    (venv / 'bin').mkdir()
    cfg(venv / 'pyvenv.cfg')
    proc = FakeProc(tmp_path / 'proc')
    proc.add(100, [str(venv / 'bin' / 'python3'), '-m', 'vllm.entrypoints.openai.api_server'], env={},
             sockets=[(5001, '127.0.0.1', 8000)], exe='/usr/bin/python3.11')
    return proc


@pytest.mark.parametrize('plant', [
    lambda path: os.mkfifo(str(path)),
    lambda path: path.write_bytes(b'home = /usr/bin\n\xff\xfe include-system-site-packages = true\n'),
], ids=['fifo', 'not-utf8'])
def test_a_hostile_pyvenv_cfg_of_a_server(tmp_path, plant):
    proc = python_server(tmp_path, plant)
    with within(10):
        [asset], problems = discovery.discover_servers(proc.root, 'n', 'm')
    assert problems == [] and asset['attributes']['version'] == '0.6.3'


def test_a_fifo_pyvenv_cfg_in_a_home_is_a_problem_naming_it(tmp_path, user_homes):
    venv = tmp_path / 'home' / 'mallory' / 'venv'
    (venv / 'lib' / 'python3.11' / 'site-packages' / 'openai-1.0.0.dist-info').mkdir(parents=True)
    os.mkfifo(str(venv / 'pyvenv.cfg'))
    user_homes(tmp_path / 'home' / 'mallory')
    with within(10):
        assets, problems = package_discovery.discover_ai_packages({'python_roots': [], 'venv_roots': ['~']}, 'n', 'm')
    assert assets == [] and problems == ['ai_package: skipped %s (its pyvenv.cfg is not a regular file)' % venv]


def test_a_fifo_metadata_file_is_not_opened(tmp_path):
    site = tmp_path / 'site-packages'
    (site / 'vllm.dist-info').mkdir(parents=True)
    os.mkfifo(str(site / 'vllm.dist-info' / 'METADATA'))
    (site / 'vllm.dist-info' / 'PKG-INFO').write_text('Name: vllm\nVersion: 0.6.3\n')
    with within(10):
        assert list(package_discovery.distributions(str(site))) == [('vllm', '0.6.3', str(site / 'vllm.dist-info'))]


@pytest.fixture
def dripping_server():
    """A server on 127.0.0.1 that answers one byte every 0.2 s, for ever; stops with the test."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(4)
    stop = threading.Event()

    def drip(connection):
        with connection:
            connection.recv(4096)
            for byte in (b'HTTP/1.1 200 OK\r\nX-Slow: ' + b'a' * 10 ** 6):
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def serve():
        while not stop.is_set():
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(connection,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_a_dripping_http_server_is_cut_off_at_the_timeout(dripping_server):
    started = time.monotonic()
    with within(10):
        result, problems = http_probe.probe(('/v1/models', '/version'), [{'address': '127.0.0.1', 'port': dripping_server}], 1.0)
    assert time.monotonic() - started < 2
    assert problems == ['HTTP probe of 127.0.0.1 port %d /v1/models: timed out after 1s' % dripping_server]


def test_the_http_probing_of_a_run_stops_at_its_budget(dripping_server):
    deadline = time.monotonic() + 1.5
    results = [http_probe.probe(('/v1/models',), [{'address': '127.0.0.1', 'port': dripping_server}], 1.0, deadline)[0]
               for _index in range(4)]
    assert [r['skipped'] for r in results] == [None, None, 'the HTTP probe budget of this run was spent',
                                               'the HTTP probe budget of this run was spent']


def test_a_deeply_nested_http_answer_is_no_answer(serve_once):
    port = serve_once(b'HTTP/1.0 200 OK\r\n\r\n{"data": ' + DEEP.encode() + b'}')
    result, problems = http_probe.probe(('/v1/models',), [{'address': '127.0.0.1', 'port': port}], 2.0)
    assert problems == [] and result['models'] is None and result['auth_observed'] == 'not_required'


@pytest.fixture
def serve_once():
    listeners = []

    def start(answer):
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        listeners.append(listener)

        def answer_once():
            connection, _address = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(answer)
        threading.Thread(target=answer_once, daemon=True).start()
        return listener.getsockname()[1]
    yield start
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize('token', ['a' * 131072, 'x' * 131072 + '://', 'http' * 32768 + ':'])
def test_redaction_of_a_long_argv0_takes_linear_time(token):
    """Linear redaction of 128 KB takes about 0.02 s of CPU here, a quadratic one minutes. CPU time of this process,
    so that other processes of a busy machine cannot fail it."""
    started = time.process_time()
    with within(30):
        redaction.redact_argv([token, '--api-key', token])
        redaction.redact_text(token)
    assert time.process_time() - started < 1.0


def test_a_probe_that_raises_is_a_problem_naming_it(monkeypatch):
    def broken(_options, _host, _machine_id):
        raise TypeError('unforeseen')
    monkeypatch.setitem(probes.PROBES, 'gpu', broken)
    assert probes.run_probe('gpu', {}, 'n', 'm') == (
        [], ['gpu: the probe failed (TypeError); its assets are not reported this run'])


def test_a_probe_that_blocks_is_stopped_at_its_deadline(monkeypatch, tmp_path):
    os.mkfifo(str(tmp_path / 'fifo'))

    def blocks(_options, _host, _machine_id):
        with open(str(tmp_path / 'fifo'), 'rb') as handle:  # no writer: blocks until interrupted
            return [handle.read()], []
    monkeypatch.setitem(probes.PROBES, 'gpu', blocks)
    started = time.monotonic()
    with within(10):
        assets, problems = probes.run_probe('gpu', {'probe_timeout': 0.5}, 'n', 'm')
    assert time.monotonic() - started < 2
    assert assets == [] and problems == ['gpu: stopped after 0.5s (probe_timeout); its assets are not reported this run']

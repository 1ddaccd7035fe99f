"""The optional HTTP probe against a real local http.server on 127.0.0.1."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import discovery, http_probe

from tests.contracts import validate

from ..fakeproc import FakeProc

VLLM = ['/usr/bin/python3', '-m', 'vllm.entrypoints.openai.api_server', '--port', '8000']


class Server(object):
    """Answers routes {path: (status, body)}, 404 otherwise, after an optional delay; logs every request."""

    def __init__(self, routes, delay=0.0):
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server naming)
                owner.requests.append((self.path, dict(self.headers)))
                time.sleep(delay)
                status, body = routes.get(self.path, (404, '{}'))
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(body.encode() if isinstance(body, str) else json.dumps(body).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the probe gave up waiting

            def log_message(self, *_args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(routes, delay=0.0):
        servers.append(Server(routes, delay))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def discover(tmp_path, argv, port, timeout=2.0, address='127.0.0.1', **kwargs):
    proc = FakeProc(tmp_path / 'proc')
    proc.add(100, argv, env={}, sockets=[(5001, address, port)], **kwargs)
    assets, problems = discovery.discover_servers(proc.root, 'node1', 'mid-1', http_timeout=timeout)
    [asset] = assets
    validate(asset, 'asset.v1.json')
    return asset['attributes'], problems


def test_401_on_model_listing_means_auth_required_and_no_credential_is_sent(tmp_path, serve):
    server = serve({'/version': (200, {'version': '0.6.3'}), '/v1/models': (401, {'error': 'unauthorized'})})
    attrs, problems = discover(tmp_path, VLLM, server.port)
    assert problems == []
    http = attrs['http']
    assert http['auth_observed'] == 'required' and http['models'] is None
    assert http['endpoint'] == 'http://127.0.0.1:%d' % server.port
    assert [(r['path'], r['status']) for r in http['responses']] == [('/version', 200), ('/v1/models', 401)]
    assert (attrs['version'], attrs['version_source']) == ('0.6.3', 'http:/version')
    assert [path for path, _headers in server.requests] == ['/version', '/v1/models']
    assert not [h for _path, headers in server.requests for h in headers if h.lower() in ('authorization', 'cookie', 'x-api-key')]


def test_200_on_model_listing_means_no_auth_and_lists_models(tmp_path, serve):
    server = serve({'/api/version': (200, {'version': '0.5.7'}),
                    '/api/tags': (200, {'models': [{'name': 'llama3.2:1b'}, {'name': 'qwen2.5:0.5b'}]})})
    attrs, _problems = discover(tmp_path, ['/usr/bin/ollama', 'serve'], server.port, address='0.0.0.0')
    assert attrs['http']['auth_observed'] == 'not_required'
    assert attrs['http']['models'] == ['llama3.2:1b', 'qwen2.5:0.5b']
    assert (attrs['version'], attrs['version_source']) == ('0.5.7', 'http:/api/version')
    assert attrs['http']['endpoint'] == 'http://127.0.0.1:%d' % server.port  # 0.0.0.0 is reached on loopback


def test_a_public_health_endpoint_proves_nothing(tmp_path, serve):
    server = serve({'/health': (200, 'ok'), '/v2/health/ready': (200, '')})
    attrs, _problems = discover(tmp_path, VLLM, server.port)
    assert attrs['http']['auth_observed'] == 'unknown'
    attrs, _problems = discover(tmp_path / 't', ['/opt/tritonserver/bin/tritonserver'], server.port)
    assert [(r['path'], r['status']) for r in attrs['http']['responses']] == [('/v2', 404), ('/v2/health/ready', 200)]
    assert attrs['http']['auth_observed'] == 'unknown'


def test_timeout_is_a_problem_not_a_failure(tmp_path, serve):
    server = serve({'/version': (200, {'version': '1'})}, delay=1.0)
    started = time.time()
    attrs, problems = discover(tmp_path, VLLM, server.port, timeout=0.2)
    assert time.time() - started < 1.0  # gave up on this port after the first timeout
    assert attrs['http']['responses'] == [{'port': server.port, 'path': '/version', 'status': None, 'error': 'timed out after 0.2s'}]
    assert attrs['http']['auth_observed'] == 'unknown' and attrs['version'] is None
    assert problems == ['vLLM (pid 100): HTTP probe of 127.0.0.1 port %d /version: timed out after 0.2s' % server.port]


def test_refused_connection_is_a_problem(tmp_path, serve):
    server = serve({})
    port = server.port
    server.close()
    attrs, problems = discover(tmp_path, VLLM, port)
    assert attrs['http']['endpoint'] is None and attrs['http']['responses'][0]['error'] == 'Connection refused'
    assert len(problems) == 1 and 'Connection refused' in problems[0]


def test_tgi_info_gives_model_and_version(tmp_path, serve):
    server = serve({'/info': (200, {'model_id': 'bigscience/bloom-560m', 'version': '2.4.0'}), '/v1/models': (200, {'data': []})})
    attrs, _problems = discover(tmp_path, ['text-generation-launcher', '--model-id', 'x'], server.port)
    assert attrs['http']['models'] == ['bigscience/bloom-560m'] and attrs['version'] == '2.4.0'
    assert attrs['http']['auth_observed'] == 'not_required'


def test_secret_looking_model_names_are_redacted(tmp_path, serve):
    server = serve({'/v1/models': (200, {'data': [{'id': 'sk-proj-AAAABBBBCCCCDDDD'}]})})
    attrs, _problems = discover(tmp_path, ['llama-server', '--port', '8080'], server.port)
    assert attrs['http']['models'] == ['<redacted>']


def test_server_in_another_network_namespace_is_not_asked(tmp_path, serve):
    server = serve({'/v1/models': (200, {'data': []})})
    other = tmp_path / 'netns'
    other.write_text('')
    attrs, problems = discover(tmp_path, VLLM, server.port, netns=str(other))
    assert server.requests == [] and problems == []
    assert attrs['http']['skipped'].startswith('in another network namespace')


def test_probe_off_sends_nothing(tmp_path, serve):
    server = serve({'/v1/models': (200, {'data': []})})
    proc = FakeProc(tmp_path / 'proc')
    proc.add(100, VLLM, env={}, sockets=[(5001, '127.0.0.1', server.port)])
    [asset], _problems = discovery.discover_servers(proc.root, 'node1', 'mid-1')
    assert asset['attributes']['http'] is None and server.requests == []


def test_requests_per_server_are_bounded(tmp_path, serve):
    servers = [serve({}) for _index in range(4)]
    proc = FakeProc(tmp_path / 'proc')
    proc.add(100, ['/opt/tritonserver/bin/tritonserver'], env={},
             sockets=[(5001 + i, '127.0.0.1', s.port) for i, s in enumerate(servers)])
    [asset], _problems = discovery.discover_servers(proc.root, 'node1', 'mid-1', http_timeout=1.0)
    assert sum(len(s.requests) for s in servers) == 2  # the first port answered HTTP: it is the API
    result, _problems = http_probe.probe(('/a', '/b', '/c', '/d'), [
        {'address': '127.0.0.1', 'port': s.port} for s in servers], 1.0)
    assert len(result['responses']) == 4
    many = tuple('/p%d' % i for i in range(10))
    result, _problems = http_probe.probe(many, [{'address': '127.0.0.1', 'port': servers[0].port}], 1.0)
    assert len(result['responses']) == http_probe.MAX_REQUESTS


@pytest.mark.parametrize('address, target', [
    ('0.0.0.0', '127.0.0.1'), ('::', '::1'), ('127.0.0.5', '127.0.0.5'), ('::ffff:127.0.0.1', '127.0.0.1'),
    ('192.0.2.77', None),  # TEST-NET-1: never an address of this host, so never contacted
])
def test_only_this_hosts_addresses_are_contacted(address, target):
    assert http_probe.connect_address(address) == target


def test_product_without_known_endpoint_is_not_asked(tmp_path):
    attrs, problems = discover(tmp_path, ['/venv/bin/python3', '/venv/bin/serve', 'run', 'app:x'], 8000)
    assert attrs['http']['skipped'] == 'no read-only endpoint known for this product' and problems == []

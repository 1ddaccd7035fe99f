"""Property-based fuzz of every parser of what a host, a server or a sender controls (issue 21).

Each parser raises only its documented error, whatever the input, and returns in bounded time.
Runs are deterministic (derandomized, no example database) and small enough that the whole
layer takes well under a minute; inputs that once broke a parser are kept as @example.
"""

import io
import json
import os
import pickle
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ansible_collections.aigov.core.plugins.module_utils.alerts import alerts, guardrails
from ansible_collections.aigov.core.plugins.module_utils.common import redaction
from ansible_collections.aigov.core.plugins.module_utils.discovery import (
    agents, credentials, http_probe, mcp_discovery, model_files, model_servers, package_discovery, pickle_scan,
    server_versions)
from ansible_collections.aigov.core.plugins.module_utils.host import hash_cache
from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

# No wall-clock deadline: on a busy machine it fails sound parsers. A hang still fails the layer at its timeout (hack/run_tests.py), and
# super-linear parsing has its own CPU-time tests (test_audit_log's linearity checks, test_hostile_host).
settings.register_profile('aigov-fuzz', derandomize=True, database=None, max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile('aigov-fuzz')

DEEP = '[' * 5000 + ']' * 5000
KEYS = st.sampled_from(['mcpServers', 'servers', 'projects', 'command', 'args', 'env', 'headers', 'url', 'type',
                        '__metadata__', 'data', 'models', 'id', 'name', 'version', 'model_id', 'alerts', 'labels',
                        'annotations', 'status', 'alertname', 'specversion', 'source', 'commonLabels', 'confidence',
                        'OPENAI_API_KEY']) | st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
                    max_leaves=40)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp('fuzz')


def _write(folder, name, data):
    path = os.path.join(str(folder), name)
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def _mutated_pickle(value, protocol, flips):
    data = bytearray(pickle.dumps(value, protocol=protocol))
    for position, byte in flips:
        data[position % len(data)] = byte
    return bytes(data)


PICKLES = st.builds(_mutated_pickle, JSON, st.integers(0, 5), st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=3))


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        for name, data in dict(members).items():
            archive.writestr(name, data)
    return buffer.getvalue()


MODEL_FILES = st.one_of(
    st.tuples(st.just('gguf'), st.binary(max_size=40).map(lambda tail: b'GGUF' + tail)),
    st.tuples(st.just('safetensors'), JSON.map(lambda doc: json.dumps({'w': doc, '__metadata__': doc}).encode())
              .map(lambda header: struct.pack('<Q', len(header)) + header)),
    st.tuples(st.just('safetensors'), st.binary(max_size=64).map(lambda tail: struct.pack('<Q', len(tail)) + tail)),
    st.tuples(st.just('pytorch_zip'), st.lists(st.tuples(st.sampled_from(['a/data.pkl', 'a/version', 'b.pkl']),
                                                         PICKLES | st.binary(max_size=64)), max_size=3).map(_zip)),
    st.tuples(st.just('pytorch_zip'), st.binary(max_size=200).map(lambda tail: b'PK\x03\x04' + tail)),
    st.tuples(st.sampled_from(['pytorch_legacy', 'pickle']), PICKLES | st.binary(max_size=200)),
    st.tuples(st.sampled_from(['onnx', 'hdf5', 'keras']), st.binary(max_size=64)),
)


@given(MODEL_FILES)
@example(('gguf', b'GGUF\x03\x00\x00\x00'))
@example(('safetensors', struct.pack('<Q', 30) + b'{"__metadata__": [1, 2, 3]}   '))
@example(('safetensors', struct.pack('<Q', len(DEEP) + 7) + b'{"w": ' + DEEP.encode() + b'}'))
@example(('pytorch_zip', b'PK\x03\x04' + b'\0' * 18 + b'PK\x05\x06' + b'\0' * 6 + b'\xff\xff' + b'\xff' * 8 + b'\0\0'))
def test_model_file_parsers_raise_only_oserror_or_valueerror(scratch, case):
    fmt, data = case
    path = _write(scratch, 'model.bin', data)
    assert model_files.detect_format(path, data[:16]) in (None,) + tuple(model_files.PICKLE_FORMATS) + (
        'gguf', 'safetensors', 'onnx', 'hdf5', 'keras')
    try:
        details, report = model_files.describe(path, fmt)
    except (OSError, ValueError):
        return
    assert isinstance(details, dict) and (report is None or set(report) == {'imports', 'dangerous', 'error'})


@given(PICKLES | st.binary(max_size=300))
@example(b'\x80\x02\x8e' + struct.pack('<Q', 2 ** 62))  # BINBYTES8 declaring 4 EiB
@example(b'\x80\x02L' + b'9' * 5000 + b'L\n.')  # a LONG past int()'s digit limit
@example(b'(' * 10000)
def test_pickle_scan_never_raises(data):
    report = pickle_scan.scan_pickle_bytes(data)
    assert set(report) == {'imports', 'dangerous', 'error'} and len(report['imports']) <= pickle_scan.MAX_GLOBALS


@given(st.binary(max_size=64), st.integers(1, 64), st.integers(1, 200))
def test_pickle_scan_limits_are_honoured(data, max_bytes, max_ops):
    stream = io.BytesIO(b'\x80\x04' + data)
    pickle_scan.scan_pickle(stream, max_bytes=max_bytes, max_ops=max_ops)
    assert stream.tell() <= max_bytes + 1


@given(JSON.map(lambda doc: json.dumps(doc).encode()) | st.binary(max_size=200))
@example(('{"mcpServers": %s}' % DEEP).encode())
@example(b'{"mcpServers": {"a": {"command": "npx", "args": 5, "env": ["X"], "headers": "h", "type": []}}}')
@example(b'{"projects": {"/p": ["not", "settings"]}, "servers": "none"}')
def test_mcp_config_parser_raises_only_valueerror(data):
    try:
        servers = mcp_discovery.parse_config(data)
    except ValueError:
        return
    for scope, name, server in servers:
        attributes = mcp_discovery.server_attributes('cursor', '/x', scope, name, server, b'k')
        assert isinstance(attributes['transport'], str) and all(isinstance(v, str) for v in attributes['env_names'])


ARGV = st.lists(st.text(max_size=30) | st.sampled_from(['python3', '-m', 'vllm.entrypoints.openai.api_server', 'npx', '-y',
                                                        '@modelcontextprotocol/server-x', 'uvx', 'langgraph', 'dev',
                                                        '--api-key', '--model', 'ollama', 'serve', 'node']),
                min_size=1, max_size=8)


@given(ARGV)
@example(['a' * 131072])
@example(['http' * 32768 + ':'])
def test_agent_and_server_recognition_and_redaction_never_raise(argv):
    model_servers.identify(argv)
    agents.mcp_server_name(argv)
    redacted = redaction.redact_argv(argv)
    assert len(redacted) == len(argv)
    redaction.redact_text(' '.join(argv))


@given(st.binary(max_size=300))
@example(b'home = /usr/bin\n\xff\xfe include-system-site-packages = true\n')
def test_pyvenv_cfg_and_metadata_parsers_never_raise(data):
    assert isinstance(server_versions.parse_venv_cfg(data), dict)
    version = package_discovery.metadata_version(data)
    assert version is None or isinstance(version, str)


@given(st.text(max_size=255))
@example('a-1' * 80 + '.dist-inf')
def test_distribution_folder_names_never_raise(name):
    match = package_discovery._DIST.match(name)
    if match:
        package_discovery.normalise(match.group('name'))


@given(st.text(max_size=400))
@example('OPENAI_API_KEY=' + ' ' * 20000 + 'x')
@example('export HF_TOKEN="' + '"' * 5000)
def test_env_file_parser_never_raises(text):
    for name, value in credentials._env_file_values(text):
        assert name in credentials.PROVIDER_VARS and value


@given(st.sampled_from(['/v1/models', '/api/tags', '/models', '/info', '/version', '/api/version', '/v2']),
       st.sampled_from([200, 401, 403, 404, 500]),
       JSON.map(lambda doc: json.dumps(doc).encode()) | st.binary(max_size=200))
@example('/v1/models', 200, ('{"data": %s}' % DEEP).encode())
def test_http_answer_parser_never_raises(path, status, body):
    result = dict(http_probe.not_probed(None), version=None, version_source=None)
    http_probe._learn(result, path, status, body)
    assert result['models'] is None or all(isinstance(name, str) for name in result['models'])
    assert result['version'] is None or isinstance(result['version'], str)


@given(JSON.map(lambda doc: json.dumps(doc).encode()) | st.binary(max_size=200))
@example(DEEP.encode())
@example(b'{"1:2:3:4:5": 7, "x": "not a digest"}')
def test_hash_cache_file_never_breaks_a_run(scratch, data):
    cache = hash_cache.HashCache(_write(scratch, 'hashes.json', data))
    assert all(isinstance(digest, str) and len(digest) == 64 for digest in cache._old.values())


@given(JSON)
@example({'alerts': [{'labels': {'alertname': 'x'}, 'status': 'firing', 'confidence': 'nan'}]})
@example({'specversion': '1.0', 'id': 'i', 'source': 's', 'type': 't', 'data': {'labels': []}})
def test_alert_normalisation_raises_only_malformed_alert(body):
    try:
        found = alerts.normalize(body)
    except alerts.MalformedAlert:
        return
    for alert in found:
        assert isinstance(alert['name'], str) and alert['status'] in ('firing', 'resolved')


YAML_TEXT = JSON.map(json.dumps) | st.text(max_size=200)


@given(YAML_TEXT)
@example('[' * 5000)
@example('a: &a [*a]')
def test_policy_pack_and_guardrail_loaders_raise_only_their_error(scratch, text):
    path = _write(scratch, 'config.yml', text.encode('utf-8', 'surrogatepass'))
    for load in (policy.load_pack, guardrails.load_guardrails):
        try:
            load(path)
        except AigovError:
            pass

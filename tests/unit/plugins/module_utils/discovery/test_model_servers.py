"""Table-driven recognition of model-server command lines."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import model_servers

RECOGNISED = [
    (['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', 'm'], 'vllm', 'm'),
    (['/opt/venv/bin/python3.11', '/opt/venv/bin/vllm', 'serve', 'meta-llama/Llama-3.1-8B'], 'vllm', 'meta-llama/Llama-3.1-8B'),
    (['python', '-u', '-X', 'dev', '-m', 'vllm.entrypoints.api_server', '--model=x/y'], 'vllm', 'x/y'),
    (['/usr/local/bin/ollama', 'serve'], 'ollama', None),
    (['text-generation-launcher', '--model-id', 'bigscience/bloom-560m'], 'tgi', 'bigscience/bloom-560m'),
    (['text-embeddings-router', '--model-id', 'BAAI/bge-small'], 'tei', 'BAAI/bge-small'),
    (['/opt/tritonserver/bin/tritonserver', '--model-repository=/models'], 'triton', '/models'),
    (['/app/llama-server', '-m', '/models/q4.gguf', '--host', '0.0.0.0'], 'llama_cpp', '/models/q4.gguf'),
    (['python3', '-m', 'llama_cpp.server', '--model', '/m.gguf'], 'llama_cpp', '/m.gguf'),
    (['java', '-Dmodel_server_home=/x', '-cp', '.:/y', 'org.pytorch.serve.ModelServer'], 'torchserve', None),
    (['/usr/bin/python3', '/usr/local/bin/torchserve', '--start', '--model-store', '/ms'], 'torchserve', '/ms'),
    (['/usr/bin/local-ai', 'run'], 'localai', None),
    (['lms', 'server', 'start'], 'lmstudio', None),
    (['python3', '/usr/bin/mlflow', 'models', 'serve', '-m', 'runs:/abc/model'], 'mlflow', 'runs:/abc/model'),
    (['python3', '/venv/bin/serve', 'run', 'app:deployment'], 'ray_serve', None),
    (['python3', '-m', 'huggingfaceserver', '--model_name', 'bert'], 'kserve', 'bert'),
    (['python3', '/venv/bin/litellm', '--model', 'gpt-4o'], 'litellm', 'gpt-4o'),
    (['python3', '-m', 'sglang.launch_server', '--model-path', 'qwen/Qwen2-7B'], 'sglang', 'qwen/Qwen2-7B'),
]

NOT_MODEL_SERVERS = [
    ['python3', '-m', 'http.server', '8000'],
    ['/usr/bin/node', '/usr/lib/node_modules/serve/bin/serve.js', 'run'],  # npm `serve`, not Ray
    ['node', '/usr/local/bin/serve', 'run'],
    ['grep', 'vllm'],
    ['python3', '/opt/venv/bin/vllm', '--version'],
    ['/usr/bin/mlflow', 'server'],  # tracking server, not model serving
    ['bash', '-c', 'ollama serve'],
    ['python3'],
    ['python3', '-c', 'import vllm'],
]


@pytest.mark.parametrize('argv, product, model', RECOGNISED)
def test_recognised(argv, product, model):
    signature, args = model_servers.identify(argv)
    assert signature is not None and signature.product == product
    assert model_servers.served_model(signature, args, {}) == model


@pytest.mark.parametrize('argv', NOT_MODEL_SERVERS)
def test_not_a_model_server(argv):
    assert model_servers.identify(argv) == (None, None)


def _auth(argv, env_names=(), env_values=None, readable=True):
    signature, args = model_servers.identify(argv)
    return model_servers.auth_state(signature, args, set(env_names), env_values or {}, readable)[0]


@pytest.mark.parametrize('argv, env_names, env_values, readable, expected', [
    (['vllm', 'serve', 'm'], (), {}, True, 'none'),
    (['vllm', 'serve', 'm', '--api-key', 'k'], (), {}, True, 'configured'),
    (['vllm', 'serve', 'm', '--api-key=k'], (), {}, True, 'configured'),
    (['vllm', 'serve', 'm'], ('VLLM_API_KEY',), {}, True, 'configured'),
    (['vllm', 'serve', 'm'], (), {}, False, 'unknown'),
    (['ollama', 'serve'], (), {}, True, 'none'),
    (['torchserve', '--start'], (), {}, True, 'unknown'),
    (['torchserve', '--start', '--disable-token-auth'], (), {}, True, 'none'),
    (['torchserve', '--start'], ('TS_DISABLE_TOKEN_AUTHORIZATION',), {'TS_DISABLE_TOKEN_AUTHORIZATION': 'true'}, True, 'none'),
    (['lms', 'server', 'start'], (), {}, True, 'unknown'),
    (['python3', '/v/bin/litellm'], ('LITELLM_MASTER_KEY',), {}, True, 'configured'),
])
def test_auth_state(argv, env_names, env_values, readable, expected):
    assert _auth(argv, env_names, env_values, readable) == expected


def test_model_from_environment_when_no_flag():
    signature, args = model_servers.identify(['text-generation-launcher'])
    assert model_servers.served_model(signature, args, {'HF_MODEL_ID': 'org/m'}) == 'org/m'


def test_value_env_holds_no_secret_names():
    """Values are kept only for model names and on/off switches, never for a secret."""
    from ansible_collections.aigov.core.plugins.module_utils.common.redaction import is_secret_name
    from ansible_collections.aigov.core.plugins.module_utils.discovery.vector_dbs import VECTOR_DB_SIGNATURES
    for signatures in (model_servers.SIGNATURES, VECTOR_DB_SIGNATURES):
        kept = model_servers.value_env(signatures)
        switches = model_servers.switch_env(signatures)
        assert [name for name in kept - switches if is_secret_name(name)] == []
        assert all(name.endswith(('_ENABLED', '_MODE', '_AUTHORIZATION')) for name in switches)


@pytest.mark.parametrize('argv, env_names, env_values, product, auth', [
    (['/qdrant/qdrant'], (), {}, 'qdrant', 'none'),
    (['/qdrant/qdrant'], ('QDRANT__SERVICE__API_KEY',), {}, 'qdrant', 'configured'),
    (['milvus', 'run', 'standalone'], (), {}, 'milvus', 'unknown'),
    (['python3', '/venv/bin/chroma', 'run', '--path', '/data'], (), {}, 'chroma', 'none'),
    (['python3', '-m', 'uvicorn', 'chromadb.app:app', '--port', '8000'], ('CHROMA_SERVER_AUTHN_PROVIDER',), {}, 'chroma', 'configured'),
    (['/bin/weaviate', '--host', '0.0.0.0'], ('AUTHENTICATION_APIKEY_ENABLED',), {'AUTHENTICATION_APIKEY_ENABLED': 'false'},
     'weaviate', 'none'),
    (['/bin/weaviate'], ('AUTHENTICATION_APIKEY_ENABLED',), {'AUTHENTICATION_APIKEY_ENABLED': 'true'}, 'weaviate', 'configured'),
])
def test_vector_dbs(argv, env_names, env_values, product, auth):
    from ansible_collections.aigov.core.plugins.module_utils.discovery.vector_dbs import VECTOR_DB_SIGNATURES
    signature, args = model_servers.identify(argv, VECTOR_DB_SIGNATURES)
    assert signature.product == product
    assert model_servers.auth_state(signature, args, set(env_names), env_values, True)[0] == auth
    assert model_servers.identify(argv) == (None, None)  # not a model server


def test_postgres_is_a_vector_db_only_with_pgvector(tmp_path, monkeypatch):
    from ansible_collections.aigov.core.plugins.module_utils.discovery import vector_dbs
    argv = ['/usr/lib/postgresql/15/bin/postgres', '-D', '/var/lib/postgresql/15/main']
    pgvector = [sig for sig in vector_dbs.VECTOR_DB_SIGNATURES if sig.product == 'pgvector'][0]
    monkeypatch.setattr(pgvector, 'requires_glob', str(tmp_path / '*' / 'extension' / 'vector.control'))
    assert model_servers.identify(argv, vector_dbs.VECTOR_DB_SIGNATURES) == (None, None)
    (tmp_path / '15' / 'extension').mkdir(parents=True)
    (tmp_path / '15' / 'extension' / 'vector.control').write_text('default_version = 0.7.0\n')
    assert model_servers.identify(argv, vector_dbs.VECTOR_DB_SIGNATURES)[0].product == 'pgvector'

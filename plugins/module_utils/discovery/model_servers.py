# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recognise model-serving processes from their command line.

The knowledge is a table (SIGNATURES): which command lines belong to which
product, which flags or variables configure authentication, name the served
model or turn on a development mode. Adding a product is adding a row.
"""

from __future__ import annotations

import glob
import os
import re

# Python options that take a separate value: `python -X dev -m vllm...`.
_PY_OPTS_WITH_VALUE = frozenset(('-X', '-W', '-Q'))


def _basename(path):
    return os.path.basename(path)


def parse_program(argv):
    """Split argv into (interpreter, program, args).

    `python3 -m vllm.entrypoints.openai.api_server --port 1` gives
    ('python', 'vllm.entrypoints.openai.api_server', ['--port', '1']);
    `python3 /usr/local/bin/vllm serve m` gives ('python', 'vllm', ['serve', 'm']);
    `/usr/bin/ollama serve` gives (None, 'ollama', ['serve']).
    """
    first = _basename(argv[0])
    if re.match(r'^(node|nodejs)$', first):
        # `node /usr/bin/flowise start`: the script names the program.
        script = next((index for index, token in enumerate(argv[1:], 1) if not token.startswith('-')), None)
        return ('node', None, []) if script is None else ('node', _basename(argv[script]), argv[script + 1:])
    if not re.match(r'^python[0-9.]*$', first):
        return None, first, argv[1:]
    index = 1
    while index < len(argv):
        token = argv[index]
        if token == '-m' and index + 1 < len(argv):
            return 'python', argv[index + 1], argv[index + 2:]
        if token == '-c':
            return 'python', None, argv[index + 2:]
        if not token.startswith('-'):
            return 'python', _basename(token), argv[index + 1:]
        index += 2 if token in _PY_OPTS_WITH_VALUE else 1
    return 'python', None, []


class Signature(object):
    """How one product looks on a command line and how it is configured."""

    def __init__(self, product, display_name, programs=(), modules=(), tokens=(), subcommand=None,
                 interpreter=None, auth_flags=(), auth_env=(), no_auth='none', auth_off_flags=(),
                 auth_off_env=(), model_flags=('--model',), model_positional=False, dev_env=(), auth_on_env=(),
                 requires_glob=None, packages=(), version_env=(), model_env=(), http_paths=()):
        self.product = product
        self.display_name = display_name
        self.programs = programs          # executable or script basenames
        self.modules = modules            # python -m module prefixes
        self.tokens = tokens              # exact argv tokens (java main classes)
        self.subcommand = subcommand      # first argument that must follow the program
        self.interpreter = interpreter    # required interpreter for generic names
        self.auth_flags = auth_flags
        self.auth_env = auth_env
        self.no_auth = no_auth            # auth state when nothing is configured
        self.auth_off_flags = auth_off_flags
        self.auth_off_env = auth_off_env
        self.model_flags = model_flags
        self.model_positional = model_positional  # `vllm serve MODEL`
        self.dev_env = dev_env
        self.auth_on_env = auth_on_env    # switches that turn authentication on when true
        self.requires_glob = requires_glob  # a file that must exist (an installed extension)
        self.packages = packages          # Python distributions whose version is the product's
        self.version_env = version_env    # variables a product image sets to its version
        self.model_env = model_env        # product-specific variables naming the served model
        self.http_paths = http_paths      # read-only endpoints the optional HTTP probe asks

    def matches(self, interpreter, program, args, argv):
        """True when this process is this product's server."""
        if self.tokens and any(token in self.tokens for token in argv):
            return True
        if program is None or (self.interpreter and interpreter != self.interpreter):
            return False
        hit = program in self.programs or any(
            program == module or program.startswith(module + '.') for module in self.modules)
        if hit and self.subcommand is not None:
            hit = args[:len(self.subcommand)] == list(self.subcommand)
        return hit and (self.requires_glob is None or bool(glob.glob(self.requires_glob)))


_MODEL_FLAGS = ('--model', '--model-id', '--model-path', '--model-name', '--served-model-name')
_OPENAI = ('/v1/models',)  # OpenAI-compatible model listing

SIGNATURES = (
    Signature('vllm', 'vLLM', programs=('vllm',), subcommand=('serve',),
              auth_flags=('--api-key',), auth_env=('VLLM_API_KEY',), model_flags=_MODEL_FLAGS,
              model_positional=True, dev_env=('VLLM_SERVER_DEV_MODE',), packages=('vllm',),
              http_paths=('/version',) + _OPENAI),
    Signature('vllm', 'vLLM', modules=('vllm.entrypoints.openai.api_server', 'vllm.entrypoints.api_server'),
              auth_flags=('--api-key',), auth_env=('VLLM_API_KEY',), model_flags=_MODEL_FLAGS,
              dev_env=('VLLM_SERVER_DEV_MODE',), packages=('vllm',), http_paths=('/version',) + _OPENAI),
    # NVIDIA NIM for LLMs: its vLLM fork's entry point, or the image's start script.
    Signature('nim', 'NVIDIA NIM', modules=('vllm_nvext.entrypoints.openai.api_server',),
              tokens=('/opt/nim/start-server.sh', '/opt/nim/start_server.sh'), no_auth='unknown',
              model_flags=_MODEL_FLAGS, model_env=('NIM_SERVED_MODEL_NAME', 'NIM_MODEL_NAME'), http_paths=_OPENAI),
    Signature('ollama', 'Ollama', programs=('ollama',), subcommand=('serve',), http_paths=('/api/version', '/api/tags')),
    Signature('tgi', 'Text Generation Inference',
              programs=('text-generation-launcher', 'text-generation-router', 'text-generation-server'),
              auth_flags=('--api-key',), auth_env=('API_KEY',), model_flags=_MODEL_FLAGS,
              packages=('text-generation-server',), http_paths=('/info',) + _OPENAI),
    Signature('tei', 'Text Embeddings Inference', programs=('text-embeddings-router',),
              auth_flags=('--api-key',), auth_env=('API_KEY',), model_flags=_MODEL_FLAGS, http_paths=('/info',)),
    Signature('triton', 'NVIDIA Triton Inference Server', programs=('tritonserver',),
              auth_flags=('--http-restricted-api', '--grpc-restricted-protocol'),
              model_flags=('--model-repository', '--model-store'), version_env=('TRITON_SERVER_VERSION',),
              http_paths=('/v2', '/v2/health/ready')),
    Signature('llama_cpp', 'llama.cpp server', programs=('llama-server',), modules=('llama_cpp.server',),
              auth_flags=('--api-key', '--api-key-file'), auth_env=('LLAMA_API_KEY',),
              model_flags=('-m', '--model', '--hf-repo', '-hf', '--alias'), packages=('llama-cpp-python',),
              http_paths=_OPENAI),
    Signature('torchserve', 'TorchServe', programs=('torchserve',), tokens=('org.pytorch.serve.ModelServer',),
              no_auth='unknown', auth_off_flags=('--disable-token-auth',),
              auth_off_env=('TS_DISABLE_TOKEN_AUTHORIZATION',), model_flags=('--models', '--model-store'),
              packages=('torchserve',), http_paths=('/models',)),
    Signature('localai', 'LocalAI', programs=('local-ai', 'localai'),
              auth_flags=('--api-keys',), auth_env=('LOCALAI_API_KEY', 'API_KEY'), model_flags=('--models-path',),
              http_paths=_OPENAI),
    Signature('lmstudio', 'LM Studio', programs=('lms',), subcommand=('server', 'start'), no_auth='unknown',
              http_paths=_OPENAI),
    Signature('mlflow', 'MLflow model server', programs=('mlflow',), modules=('mlflow',),
              subcommand=('models', 'serve'), model_flags=('-m', '--model-uri'), packages=('mlflow',),
              http_paths=('/version',)),
    Signature('mlflow', 'MLflow model server', modules=('mlflow.pyfunc.scoring_server',),
              model_flags=('-m', '--model-uri'), packages=('mlflow',), http_paths=('/version',)),
    Signature('ray_serve', 'Ray Serve', programs=('serve',), interpreter='python', subcommand=('run',),
              model_flags=(), packages=('ray',)),
    Signature('kserve', 'KServe model server',
              modules=('kserve', 'sklearnserver', 'xgbserver', 'lgbserver', 'pmmlserver', 'huggingfaceserver'),
              no_auth='unknown', model_flags=('--model_name', '--model_id', '--model_dir'), packages=('kserve',),
              http_paths=_OPENAI),
    Signature('litellm', 'LiteLLM proxy', programs=('litellm',), modules=('litellm',),
              auth_env=('LITELLM_MASTER_KEY',), model_flags=('--model',), packages=('litellm',), http_paths=_OPENAI),
    Signature('sglang', 'SGLang', modules=('sglang.launch_server',), programs=('sglang',),
              auth_flags=('--api-key',), model_flags=('--model-path', '--model'), packages=('sglang',),
              http_paths=_OPENAI),
    Signature('lmdeploy', 'LMDeploy', programs=('lmdeploy',), subcommand=('serve', 'api_server'),
              auth_flags=('--api-keys',), model_flags=('--model-name',), packages=('lmdeploy',), http_paths=_OPENAI),
    Signature('trtllm', 'TensorRT-LLM server', programs=('trtllm-serve',), no_auth='unknown', model_positional=True,
              model_flags=(), packages=('tensorrt-llm',), http_paths=_OPENAI),
)

# Variables whose values are kept: they name models or modes, never secrets.
MODEL_ENV = ('MODEL_NAME', 'MODEL_ID', 'HF_MODEL_ID', 'MODEL_PATH')


# Where a Python process finds its packages: read to locate the site-packages a server runs from.
PYTHON_ENV = ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME', 'PATH')


def switch_env(signatures):
    """On/off switch variables of these signatures (their values are kept: true/false, never secrets)."""
    return frozenset(name for sig in signatures for name in sig.dev_env + sig.auth_off_env + sig.auth_on_env)


def value_env(signatures):
    """Variables whose values discovery keeps for these signatures: model names, versions, paths and switches."""
    named = frozenset(name for sig in signatures for name in sig.version_env + sig.model_env)
    return frozenset(MODEL_ENV + PYTHON_ENV) | named | switch_env(signatures)


def identify(argv, signatures=SIGNATURES):
    """Return (signature, program args) for a server command line, or (None, None)."""
    interpreter, program, args = parse_program(argv)
    for signature in signatures:
        if signature.matches(interpreter, program, args, argv):
            return signature, args
    return None, None


def _flag_value(args, flags):
    """Value of the first of flags in args (`--flag v` or `--flag=v`), or None."""
    for index, token in enumerate(args):
        name, sep, value = token.partition('=')
        if name in flags:
            if sep:
                return value
            if index + 1 < len(args) and not args[index + 1].startswith('-'):
                return args[index + 1]
    return None


def _has_flag(args, flags):
    return any(token.partition('=')[0] in flags for token in args)


def _truthy(value):
    return value is not None and value.strip().lower() in ('1', 'true', 'yes', 'on')


def served_model(signature, args, env_values):
    """Best-effort name of the model the server serves."""
    value = _flag_value(args, signature.model_flags)
    if value is None and signature.model_positional and len(args) > 1 and args[0] == 'serve' \
            and not args[1].startswith('-'):
        value = args[1]
    if value is None:
        value = next((env_values[name] for name in signature.model_env + MODEL_ENV if env_values.get(name)), None)
    return value


def auth_state(signature, args, env_names, env_values, env_readable):
    """Return (state, evidence): state is 'configured', 'none' or 'unknown'.

    Only presence is looked at, never a value. When the environment could not
    be read and no flag settles it, the answer is 'unknown', not 'none'.
    """
    off_flag = next((flag for flag in signature.auth_off_flags if _has_flag(args, (flag,))), None)
    if off_flag:
        return 'none', 'authentication disabled by %s' % off_flag
    off_env = next((name for name in signature.auth_off_env if _truthy(env_values.get(name))), None)
    if off_env:
        return 'none', 'authentication disabled by environment variable %s' % off_env
    flag = next((flag for flag in signature.auth_flags if _has_flag(args, (flag,))), None)
    if flag:
        return 'configured', 'flag %s present' % flag
    name = next((name for name in signature.auth_env if name in env_names), None)
    if name:
        return 'configured', 'environment variable %s present' % name
    name = next((name for name in signature.auth_on_env if _truthy(env_values.get(name))), None)
    if name:
        return 'configured', 'environment variable %s is true' % name
    if not env_readable and (signature.auth_env or signature.auth_on_env):
        return 'unknown', 'process environment not readable'
    if signature.no_auth == 'unknown':
        return 'unknown', '%s authentication cannot be determined from the command line' % signature.display_name
    return 'none', 'no authentication flag or variable configured'


def dev_mode(signature, env_values):
    """Names of development/debug switches that are on."""
    return sorted(name for name in signature.dev_env if _truthy(env_values.get(name)))

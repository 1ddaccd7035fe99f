# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ai_package probe: AI SDKs, agent frameworks and runtimes installed in
system Python and in virtualenvs, read from their *.dist-info / *.egg-info
folder names (no import, no pip, nothing executed). A metadata file is read
as a regular file without blocking and only its first METADATA_BYTES."""

from __future__ import annotations

import glob
import os
import re
import stat as stat_module

from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import read_capped
from ansible_collections.aigov.core.plugins.module_utils.host.user_paths import in_every_home

# Normalised distribution name -> category.
AI_PACKAGES = dict(
    [(name, 'ml_runtime') for name in ('torch', 'tensorflow', 'jax', 'onnxruntime', 'onnxruntime-gpu', 'tensorrt', 'vllm', 'sglang',
                                       'llama-cpp-python', 'ctransformers', 'text-generation', 'tritonclient', 'bitsandbytes',
                                       'accelerate', 'deepspeed', 'xformers', 'ray')]
    + [(name, 'model_library') for name in ('transformers', 'diffusers', 'sentence-transformers', 'peft', 'trl', 'huggingface-hub',
                                            'timm', 'keras', 'mlflow', 'torchserve')]
    + [(name, 'agent_framework') for name in ('langchain', 'langchain-core', 'langchain-community', 'langgraph', 'llama-index',
                                              'llama-index-core', 'crewai', 'autogen', 'pyautogen', 'autogen-agentchat', 'ag2',
                                              'semantic-kernel', 'haystack-ai', 'dspy', 'dspy-ai', 'smolagents', 'pydantic-ai',
                                              'openai-agents', 'mcp', 'fastmcp', 'litellm', 'guidance', 'instructor')]
    + [(name, 'provider_sdk') for name in ('openai', 'anthropic', 'google-generativeai', 'google-genai', 'cohere', 'mistralai',
                                           'groq', 'together', 'replicate', 'ollama', 'boto3-bedrock', 'azure-ai-inference')]
    + [(name, 'vector_db_client') for name in ('chromadb', 'qdrant-client', 'pymilvus', 'weaviate-client', 'pinecone',
                                               'pinecone-client', 'pgvector', 'faiss-cpu', 'faiss-gpu', 'lancedb')]
)
DEFAULT_PYTHON_ROOTS = ('/usr/lib/python3*/site-packages', '/usr/lib/python3/dist-packages', '/usr/local/lib/python3*/site-packages',
                        '/usr/local/lib/python3*/dist-packages')
DEFAULT_VENV_ROOTS = ('/opt', '/srv', '/usr/local', '~')
_DIST = re.compile(r'^(?P<name>.+?)-(?P<version>[0-9][^-]*?)(?:-py[0-9.]+)?\.(?:dist|egg)-info$')
VENV_DEPTH = 3  # how deep under a venv root a pyvenv.cfg is looked for
METADATA_BYTES = 65536


def normalise(name):
    """PEP 503 normalised project name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def metadata_version(data):
    """The Version header of a METADATA or PKG-INFO file's bytes, or None."""
    for line in data.decode('utf-8', 'replace').splitlines():
        if line.startswith('Version:'):
            return line.split(':', 1)[1].strip() or None
        if not line:
            break  # end of the headers
    return None


def _metadata_version(path):
    """Version header of a dist-info METADATA or egg-info PKG-INFO (names without a version: editable installs)."""
    for name in ('METADATA', 'PKG-INFO'):
        try:
            return metadata_version(read_capped(os.path.join(path, name), METADATA_BYTES)[0])
        except (IOError, OSError):
            continue
    return None


def distributions(directory, wanted=None):
    """Yield (normalised name, version, metadata path) of the packages installed in one site-packages.

    Only folder names are listed; a metadata file is opened only for a wanted
    name whose folder carries no version. Raises OSError when the directory cannot be listed.
    """
    for entry in sorted(os.listdir(directory)):
        match = _DIST.match(entry)
        if match:
            name, version = normalise(match.group('name')), match.group('version')
        elif entry.endswith(('.dist-info', '.egg-info')):
            name, version = normalise(entry.rsplit('.', 1)[0]), None
        else:
            continue
        if wanted is not None and name not in wanted:
            continue
        path = os.path.join(directory, entry)
        if version is None:
            version = _metadata_version(path)
        if version is not None:
            yield name, version, path


def _is_regular(path):
    try:
        return stat_module.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _venvs(roots, problems):
    """Directories holding a pyvenv.cfg at most VENV_DEPTH levels under the roots (hidden ones included)."""
    found = set()
    for root in roots:
        for base in in_every_home(root):
            for directory, subdirs, names in os.walk(base):
                if 'pyvenv.cfg' in names:
                    subdirs[:] = []  # a venv's own tree holds no further venvs worth the walk
                    if _is_regular(os.path.join(directory, 'pyvenv.cfg')):
                        found.add(directory)
                    else:
                        problems.append('ai_package: skipped %s (its pyvenv.cfg is not a regular file)' % directory)
                elif directory[len(base):].count(os.sep) >= VENV_DEPTH:
                    subdirs[:] = []
    return sorted(found)


def site_packages(python_roots, venv_roots, problems):
    """(directory, venv or None) of every site-packages to look at."""
    dirs = [(path, None) for pattern in python_roots for path in sorted(glob.glob(pattern))]
    for venv in _venvs(venv_roots, problems):
        dirs.extend((path, venv) for path in sorted(glob.glob(os.path.join(venv, 'lib', 'python3*', 'site-packages'))))
    seen, unique = set(), []
    for path, venv in dirs:
        real = os.path.realpath(path)
        if os.path.isdir(path) and real not in seen:
            seen.add(real)
            unique.append((path, venv))
    return unique


def discover_ai_packages(options, host, machine_id):
    """Return (assets, problems): one asset per AI package per Python environment."""
    problems, assets = [], []
    for directory, venv in site_packages(options.get('python_roots', DEFAULT_PYTHON_ROOTS),
                                         options.get('venv_roots', DEFAULT_VENV_ROOTS), problems):
        try:
            found = list(distributions(directory, AI_PACKAGES))
        except OSError as exc:
            problems.append('ai_package: cannot list %s (%s)' % (directory, exc.strerror))
            continue
        for name, version, path in found:
            attributes = {'package': name, 'version': version, 'category': AI_PACKAGES[name],
                          'site_packages': directory, 'venv': venv}
            evidence = [{'type': 'package', 'path': path}]
            assets.append(make_asset('ai_package', host, machine_id, (directory, name), name, attributes, evidence))
    return sorted(assets, key=lambda asset: asset['id']), problems

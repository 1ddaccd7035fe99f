"""Run the ai_asset_facts module file the way Ansible runs it: a process given an args file."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import FARM, ROOT

MODULE = os.path.join(ROOT, 'plugins', 'modules', 'ai_asset_facts.py')


def run_module(tmp_path, args):
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=FARM)
    proc = subprocess.run([sys.executable, MODULE, str(args_file)], env=env, capture_output=True, text=True, check=False, timeout=60)
    return json.loads(proc.stdout), proc


def test_reads_the_real_proc(tmp_path):
    result, proc = run_module(tmp_path, {'hash_cache': str(tmp_path / 'hashes.json')})
    assert proc.returncode == 0, proc.stderr
    facts = result['ansible_facts']
    assert facts['ai_discovery']['probes'] == ['model_server', 'vector_db', 'model_artifact', 'credential', 'ai_package', 'gpu', 'mcp_server', 'agent']
    assert facts['ai_discovery']['asset_count'] == len(facts['ai_assets'])
    assert result['changed'] is False


@pytest.mark.parametrize('args, message', [
    ({'prob': ['model_server']}, 'Unsupported parameters for (basic.py) module: prob'),
    ({'probes': ['gpu_magic']},
     'value of probes must be one or more of: model_server, vector_db, model_artifact, credential, ai_package, gpu, mcp_server, agent'),
    ({'proc_root': '/nonexistent/proc'}, "proc_root '/nonexistent/proc' is not a readable directory"),
    ({'proc_root': '/etc'}, "proc_root '/etc' does not look like a proc filesystem"),
    ({'http_probe': True, 'http_timeout': 0}, 'http_timeout must be more than 0 and at most 30 seconds, got 0.0'),
    ({'http_timeout': 'soon'}, "argument 'http_timeout' is of type"),
    ({'model_signers': [{'name': 'release'}]}, 'model_signers[0] (release): give exactly one of public_key, certificates'),
    ({'model_signers': [{'name': 'release', 'public_key': 'not a key'}]}, 'public_key must hold one PEM PUBLIC KEY block'),
    ({'model_signers': [{'public_key': 'x'}]}, 'missing required arguments: name found in model_signers'),
])
def test_bad_invocation_is_a_clear_error_not_a_traceback(tmp_path, args, message):
    result, proc = run_module(tmp_path, args)
    assert result['failed'] is True
    assert message in result['msg']
    assert 'Traceback' not in proc.stdout + proc.stderr and 'exception' not in result


def test_finds_planted_model_files_and_caches_hashes(tmp_path):
    models = tmp_path / 'models'
    models.mkdir()
    (models / 'tiny.gguf').write_bytes(b'GGUF' + b'\x03\x00\x00\x00' + b'\x00' * 16)
    args = {'probes': ['model_artifact'], 'artifact_roots': [str(models)], 'hash_cache': str(tmp_path / 'cache' / 'h.json')}
    result, proc = run_module(tmp_path, dict(args, _ansible_check_mode=True))
    assert proc.returncode == 0, proc.stderr
    assert [a['attributes']['format'] for a in result['ansible_facts']['ai_assets']] == ['gguf']
    assert not (tmp_path / 'cache').exists()  # check mode writes nothing
    result, proc = run_module(tmp_path, args)
    assert (tmp_path / 'cache' / 'h.json').exists()

"""Table-driven tests of the one place that removes secrets from command lines."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.redaction import REDACTED, redact_argv

SECRET = 'sk-proj-Zx9QeT4mW2vR8yL1'

CASES = [
    (['vllm', 'serve', 'm', '--api-key', SECRET], ['vllm', 'serve', 'm', '--api-key', REDACTED]),
    (['vllm', '--api-key=' + SECRET], ['vllm', '--api-key=' + REDACTED]),
    (['env', 'OPENAI_API_KEY=' + SECRET, 'run'], ['env', 'OPENAI_API_KEY=' + REDACTED, 'run']),
    (['x', '--hf-token', 'hf_abcdefghijklmnop'], ['x', '--hf-token', REDACTED]),
    (['x', '--password', 'hunter2'], ['x', '--password', REDACTED]),
    (['x', SECRET], ['x', REDACTED]),  # provider-format key after an innocent flag
    (['x', '--db', 'postgres://app:s3cret@db:5432/x'], ['x', '--db', 'postgres://app:' + REDACTED + '@db:5432/x']),
    # A boolean secret-named flag followed by another option redacts nothing.
    (['torchserve', '--disable-token-auth', '--port', '8080'], ['torchserve', '--disable-token-auth', '--port', '8080']),
    # Names that only look secret keep their values.
    (['vllm', '--tokenizer', 'org/tok', '--max-num-batched-tokens', '2048'],
     ['vllm', '--tokenizer', 'org/tok', '--max-num-batched-tokens', '2048']),
    (['llama-server', '-m', '/models/a.gguf', '--port', '8080'], ['llama-server', '-m', '/models/a.gguf', '--port', '8080']),
]


@pytest.mark.parametrize('argv, expected', CASES)
def test_redact_argv(argv, expected):
    assert redact_argv(argv) == expected


def test_redact_argv_never_returns_the_secret():
    argv = ['--api-key', SECRET, '--x=' + SECRET, 'KEY=' + SECRET, SECRET]
    assert SECRET not in ' '.join(redact_argv(argv))


def test_redact_argv_does_not_modify_its_input():
    argv = ['--api-key', SECRET]
    redact_argv(argv)
    assert argv == ['--api-key', SECRET]


def test_redact_text_keeps_layout_and_references():
    from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_text
    text = ('# comment\nVLLM_API_KEY=%s\nARGS="--host 0.0.0.0 --api-key %s"\nEnvironment="HF_TOKEN=hf_abcdefghijk"\n'
            'OPENAI_API_KEY_FILE=/srv/.aigov-secrets/env.OPENAI_API_KEY\n' % (SECRET, SECRET))
    redacted = redact_text(text)
    assert SECRET not in redacted and 'hf_abcdefghijk' not in redacted
    assert redacted.splitlines()[0] == '# comment' and '--host 0.0.0.0' in redacted
    assert 'OPENAI_API_KEY_FILE=/srv/.aigov-secrets/env.OPENAI_API_KEY' in redacted
    assert len(redacted.splitlines()) == len(text.splitlines())

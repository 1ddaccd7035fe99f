"""The compiled closures give exactly what jmespath's own interpreter gives."""

import jmespath
import pytest

from ansible_collections.aigov.core.plugins.module_utils.policy import policy_compiler, policy_functions

from tests.unit.plugins.module_utils.test_default_pack import CASES, PACK

INTERPRETER = policy_functions.interpreter({'limit': 2})
ASSETS = [asset for _rule, violating, complying in CASES for asset in violating + complying]

# Values where JMESPath and Python disagree: 0/1 vs booleans, empty containers, missing keys.
VALUES = [
    {'a': 0}, {'a': 1}, {'a': 1.0}, {'a': True}, {'a': False}, {'a': None}, {'a': ''}, {'a': []}, {'a': {}},
    {'a': 'x'}, {'a': [0, 1]}, {'a': {'b': 0}}, {'a': {'b': None}}, {'a': {'b': 'x'}}, {}, {'a': 2, 'b': 3},
    {'a': 'a', 'b': 'b'}, {'a': [{'b': 1}, {'b': 2}]}, {'a': ['x', '--tools']}, {'a': '0.1.2'},
]
EXPRESSIONS = [
    'a', 'a.b', 'a.b.c', '!a', '!(a)', '!a.b', 'a == `0`', 'a == `1`', 'a == `true`', 'a != `false`', 'a == `null`',
    'a != `null`', "a == 'x'", "a != 'x'", 'a == b', '`1` == a', 'a < b', 'a <= `1`', 'a > `0`', "a >= 'a'",
    'a && b', 'a || b', 'a && `0`', '!a || a.b', "contains(['x', 'y'], a)", 'a[0]', 'a[*].b', 'a[?b > `1`].b',
    "has_flag(a, '--tools')", "version_lt(a, '0.2')", "a == param('limit')", '[a, b]', '@', 'a | b',
]


def outcome(function, *args):
    """('ok', result) or ('error', exception type): the same error must be raised too."""
    try:
        return ('ok', function(*args))
    except Exception as exc:  # noqa: BLE001 - any difference counts
        return ('error', type(exc))


@pytest.mark.parametrize('expression', EXPRESSIONS)
def test_same_result_as_the_interpreter(expression):
    parsed = jmespath.compile(expression).parsed
    compiled = policy_compiler.build(parsed, INTERPRETER)
    for value in VALUES:
        expected = outcome(INTERPRETER.visit, parsed, value)
        got = outcome(compiled, value)
        assert got == expected, (expression, value)
        if got[0] == 'ok':
            assert type(got[1]) is type(expected[1]), (expression, value)  # True stays True, not 1


def test_every_default_rule_gives_the_interpreters_answer_on_every_fixture_asset():
    interpreter = PACK[0]['_interpreter']
    checked = 0
    for rule in PACK[0]['rules']:
        for field in ('_applies_to', '_condition'):
            compiled = policy_compiler.build(rule[field], interpreter)
            for asset in ASSETS:
                expected = outcome(interpreter.visit, rule[field], asset)
                assert outcome(compiled, asset) == expected, (rule['id'], field, asset['id'])
                checked += 1
    assert checked == len(PACK[0]['rules']) * 2 * len(ASSETS)

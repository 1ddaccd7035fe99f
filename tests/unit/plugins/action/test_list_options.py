"""A list option of a controller action given as the text of a sequence (what -e key=value and an AAP survey's text
field pass) is that sequence; Ansible alone would split the text at its commas."""

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.aigov.core.plugins.action.ai_policy_check import ActionModule
from ansible_collections.aigov.core.plugins.plugin_utils.action import sequences_from_text

SPEC = ActionModule.ARGUMENT_SPEC


def validated(args):
    result = ArgumentSpecValidator(SPEC).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


@pytest.mark.parametrize('text, expected', [
    ('["/srv/a.yml", "/srv/b.yml"]', ['/srv/a.yml', '/srv/b.yml']),
    ("['/srv/a.yml']", ['/srv/a.yml']),
    (' [/srv/a.yml, /srv/b.yml] ', ['/srv/a.yml', '/srv/b.yml']),
    ('[]', []),
    ('/srv/a.yml', ['/srv/a.yml']),  # one item, as Ansible takes it
    ('/srv/a.yml,/srv/b.yml', ['/srv/a.yml', '/srv/b.yml']),  # items between commas, as Ansible takes them
])
def test_a_list_given_as_text(text, expected):
    assert validated(sequences_from_text(SPEC, {'assets': [], 'exceptions': text}))['exceptions'] == expected


def test_without_it_ansible_splits_the_text_at_its_commas():
    assert validated({'assets': [], 'exceptions': '["/srv/a.yml","/srv/b.yml"]'})['exceptions'] == [
        '["/srv/a.yml"', '"/srv/b.yml"]']


@pytest.mark.parametrize('args', [
    {'exceptions': '[unclosed, "x'},  # not a sequence: Ansible's own reading
    {'exceptions': '[{a: 1'},
    {'exceptions': '[' * 5000 + ']' * 5000},  # nested past the YAML parser's recursion: no crash
    {'exceptions': ['/srv/a.yml']},  # a list already
    {'registry': '[registry]'},  # not a list option: a name or a path, whatever its characters
    {'fail_on': '[high]'},
])
def test_what_is_not_a_sequence_or_not_a_list_option_is_left_as_it_is(args):
    assert sequences_from_text(SPEC, args) == args

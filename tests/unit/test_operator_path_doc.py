"""The operator's path of docs/remediation.md names only what ships: each runnable step (run as written by
tests/integration/test_operator_path.py) calls a playbook or rulebook of this collection, with an inventory."""

import os
import re

from tests.conftest import ROOT

STEP = re.compile(r'<!-- step: (?P<name>[a-z_]+) -->\n```sh\n(?P<body>.*?)\n```', re.S)


def test_every_step_names_a_shipped_playbook_or_rulebook_and_an_inventory():
    with open(os.path.join(ROOT, 'docs', 'remediation.md')) as handle:
        steps = dict((match.group('name'), match.group('body')) for match in STEP.finditer(handle.read()))
    assert set(steps) == {'key', 'discover', 'rulebook', 'pending', 'approve', 'report'}
    for name, body in steps.items():
        for kind, target in re.findall(r'(ansible-playbook|ansible-rulebook)[^\n]*? (?:-r )?aigov\.core\.([a-z_]+)', body):
            rulebooks = ('extensions', 'eda', 'rulebooks')
            where = ('playbooks', target + '.yml') if kind == 'ansible-playbook' else rulebooks + (target + '.yml',)
            assert os.path.isfile(os.path.join(ROOT, *where)), (name, target)
            assert '-i inventory.yml' in body, name  # without an inventory Ansible warns

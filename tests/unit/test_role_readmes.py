"""Every role has a README whose variables table is its argument specs: each option documented, nothing else."""

import glob
import os
import re
import runpy

import pytest
import yaml

from tests.conftest import ROOT

ROLES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, 'roles', '*')))
GENERATOR = runpy.run_path(os.path.join(ROOT, 'hack', 'role_readme_vars.py'))
ROW = re.compile(r'^\| `([a-z0-9_.\[\]]+)` \|', re.MULTILINE)


def readme(role):
    with open(os.path.join(ROOT, 'roles', role, 'README.md'), encoding='utf-8') as handle:
        return handle.read()


@pytest.mark.parametrize('role', ROLES)
def test_the_variables_table_names_every_option_and_only_those(role):
    section = readme(role).split('## Variables', 1)[1].split('\n## ', 1)[0]
    assert ROW.findall(section) == list(GENERATOR['options'](os.path.join(ROOT, 'roles', role)))


@pytest.mark.parametrize('role', ROLES)
def test_the_table_is_the_generated_one(role):
    """Types, defaults and descriptions too: regenerate with hack/role_readme_vars.py after editing the specs."""
    assert GENERATOR['table'](os.path.join(ROOT, 'roles', role)) in readme(role)


@pytest.mark.parametrize('role', ROLES)
def test_the_readme_has_an_example_that_runs_the_role(role):
    example = readme(role).split('## Example', 1)[1]
    play = yaml.safe_load(example.split('```yaml', 1)[1].split('```', 1)[0])
    text = yaml.safe_dump(play)
    assert 'aigov.core.%s' % role in text

"""Shared fakes for the engine's unit tests."""

import collections

import pytest

from ansible_collections.aigov.core.plugins.module_utils import user_paths

PasswdEntry = collections.namedtuple('PasswdEntry', 'pw_dir')


@pytest.fixture
def user_homes(monkeypatch):
    """Make the probes see these directories as the users' home directories."""
    def use(*homes):
        entries = [PasswdEntry(str(home)) for home in homes]
        monkeypatch.setattr(user_paths.pwd, 'getpwall', lambda: entries)
    return use

"""Shared fakes for the engine's unit tests."""

import collections

import pytest

from ansible_collections.aigov.core.plugins.module_utils import artifact_discovery

PasswdEntry = collections.namedtuple('PasswdEntry', 'pw_dir')


@pytest.fixture
def user_homes(monkeypatch):
    """Make the probes see these directories as the users' home directories."""
    def use(*homes):
        entries = [PasswdEntry(str(home)) for home in homes]
        monkeypatch.setattr(artifact_discovery.pwd, 'getpwall', lambda: entries)
    return use

"""Shared fakes for the engine's unit tests."""

import collections
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common import fast_json
from ansible_collections.aigov.core.plugins.module_utils.host import user_paths

PasswdEntry = collections.namedtuple('PasswdEntry', 'pw_dir')


@pytest.fixture
def user_homes(monkeypatch):
    """Make the probes see these directories as the users' home directories."""
    def use(*homes):
        entries = [PasswdEntry(str(home)) for home in homes]
        monkeypatch.setattr(user_paths.pwd, 'getpwall', lambda: entries)
    return use


NOBODY = 65534  # the real unprivileged user that plays the attacker in the root tests


@pytest.fixture
def base(tmp_path):
    """A root-owned directory nobody else can write (pytest's tmp_path, opened to reading)."""
    os.chmod(tmp_path, 0o755)
    return tmp_path


def user_dir(base, name='home'):
    """A directory of `nobody` under BASE: what a local user controls."""
    path = base / name
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    return path


def user_file(path, data, mode=0o644):
    path.write_bytes(data)
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, mode)
    return path


@pytest.fixture(params=['orjson', 'json module'])
def encoder(request, monkeypatch):
    """Run the test twice: JSON through orjson, and through the json module alone (orjson missing)."""
    if request.param == 'orjson':
        assert fast_json.orjson is not None, 'orjson is a test requirement (hack/requirements/test.txt)'
    else:
        monkeypatch.setattr(fast_json, 'orjson', None)
    return request.param

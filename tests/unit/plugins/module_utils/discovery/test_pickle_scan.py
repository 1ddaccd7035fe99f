"""Pickle scanning by opcodes: dangerous imports found at every protocol, nothing executed."""

import os
import pickle
import subprocess
import collections

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery.pickle_scan import is_dangerous, scan_pickle_bytes


class RunsCommand(object):
    def __reduce__(self):
        return (os.system, ('touch /tmp/aigov-pickle-was-loaded',))


class RunsSubprocess(object):
    def __reduce__(self):
        return (subprocess.check_output, (['id'],))


class Evaluates(object):
    def __reduce__(self):
        return (eval, ('1+1',))


@pytest.mark.parametrize('protocol', range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_is_flagged_at_every_protocol(protocol):
    found = scan_pickle_bytes(pickle.dumps({'weights': [1.0, 2.0], 'x': RunsCommand()}, protocol=protocol))
    assert found['dangerous'] == ['posix.system'] and found['error'] is None


@pytest.mark.parametrize('payload, name', [(RunsSubprocess(), 'subprocess.check_output'), (Evaluates(), 'builtins.eval')])
def test_other_dangerous_callables(payload, name):
    assert name in scan_pickle_bytes(pickle.dumps(payload, protocol=4))['dangerous']


def test_benign_pickle_lists_imports_without_danger():
    found = scan_pickle_bytes(pickle.dumps(collections.OrderedDict(a=[1, 2]), protocol=2))
    assert found == {'imports': ['collections.OrderedDict'], 'dangerous': [], 'error': None}


def test_later_pickles_in_one_file_are_scanned():
    data = pickle.dumps(119547037146038801333356, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps(RunsCommand(), protocol=2)
    assert scan_pickle_bytes(data)['dangerous'] == ['posix.system']


def test_truncated_pickle_keeps_what_was_read_and_says_why():
    data = pickle.dumps([RunsCommand(), 'x' * 100], protocol=4)[:-40]
    found = scan_pickle_bytes(data)
    assert found['dangerous'] == ['posix.system'] and found['error']


def test_scanning_never_executes(tmp_path):
    marker = '/tmp/aigov-pickle-was-loaded'
    if os.path.exists(marker):
        os.unlink(marker)
    scan_pickle_bytes(pickle.dumps(RunsCommand(), protocol=2))
    assert not os.path.exists(marker)


@pytest.mark.parametrize('name, dangerous', [
    ('os.system', True), ('posix.system', True), ('nt.system', True), ('subprocess.Popen', True), ('builtins.exec', True),
    ('socket.socket', True), ('runpy._run_code', True), ('os.path.join', True),
    ('torch._utils._rebuild_tensor_v2', False), ('collections.OrderedDict', False), ('numpy.core.multiarray._reconstruct', False),
    ('builtins.set', False),
])
def test_is_dangerous(name, dangerous):
    assert is_dangerous(name) is dangerous

"""The audit log's own path: a symlink or a non-regular file there is refused, never followed (issue 21, low)."""

import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log


def append(path):
    audit_log.append(str(path), 'ops', 'test.append', 'agent-1', 'team-a', 'success')


def test_a_symlinked_log_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / 'elsewhere'
    target.write_text('not a log\n')
    os.symlink(str(target), str(tmp_path / 'audit.jsonl'))
    with pytest.raises(audit_log.AuditLogError, match='symlink'):
        append(tmp_path / 'audit.jsonl')
    with pytest.raises(audit_log.AuditLogError, match='symlink'):
        list(audit_log.iter_lines(str(tmp_path / 'audit.jsonl')))
    assert target.read_text() == 'not a log\n'


def test_a_fifo_log_is_refused(tmp_path):
    os.mkfifo(str(tmp_path / 'audit.jsonl'))
    with pytest.raises(audit_log.AuditLogError, match='not a regular file'):
        append(tmp_path / 'audit.jsonl')
    with pytest.raises(audit_log.AuditLogError, match='not a regular file'):
        list(audit_log.iter_lines(str(tmp_path / 'audit.jsonl')))


def test_a_regular_log_still_appends(tmp_path):
    append(tmp_path / 'audit.jsonl')
    append(tmp_path / 'audit.jsonl')
    assert len(list(audit_log.iter_lines(str(tmp_path / 'audit.jsonl')))) == 2

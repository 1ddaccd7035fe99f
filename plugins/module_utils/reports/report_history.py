# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance trend: one summary record per scan (schemas/compliance-history.v1.json),
kept as JSON lines in the report directory, bounded to the last N scans.

The file is rewritten whole through a temp file and a rename, under an
exclusive lock, so two scans writing to one directory cannot lose a record
or leave half a line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

HISTORY_FILE = 'compliance-history.jsonl'
LOCK_FILE = '.compliance-history.lock'
HISTORY_SCHEMA_VERSION = 1
DEFAULT_KEEP = 100
_SEVERITIES = ('info', 'low', 'medium', 'high', 'critical')
_COUNTS = ('findings', 'waived', 'assets', 'hosts_scanned', 'hosts_missing')


def record(check, generated_at):
    """The summary record of one scan, from an ai_policy_check result (or a report document)."""
    summary, scope = check['summary'], check['scope']
    return {
        'schema_version': HISTORY_SCHEMA_VERSION,
        'generated_at': generated_at,
        'findings': summary['findings'],
        'waived': sum(1 for finding in check['findings'] if finding.get('waived')),
        'by_severity': dict((severity, summary['by_severity'].get(severity, 0)) for severity in _SEVERITIES),
        'assets': summary['assets'],
        'hosts_scanned': len(scope['hosts_scanned']),
        'hosts_missing': len(scope['hosts_missing']),
        'compliant': summary['compliant'],
        'complete': summary['complete'],
    }


def _problem(item):
    """What is wrong with one parsed line, or None."""
    if not isinstance(item, dict):
        return 'not a JSON object'
    if item.get('schema_version') != HISTORY_SCHEMA_VERSION:
        return 'schema_version must be %d, got %r' % (HISTORY_SCHEMA_VERSION, item.get('schema_version'))
    if not isinstance(item.get('generated_at'), str):
        return 'generated_at must be a string'
    counts = item.get('by_severity')
    if not isinstance(counts, dict) or any(not isinstance(counts.get(s), int) for s in _SEVERITIES):
        return 'by_severity must count %s' % ', '.join(_SEVERITIES)
    for key in _COUNTS:
        if not isinstance(item.get(key), int) or isinstance(item.get(key), bool):
            return '%s must be an integer' % key
    for key in ('compliant', 'complete'):
        if not isinstance(item.get(key), bool):
            return '%s must be true or false' % key
    return None


def parse(text, path):
    """Records from the text of a history file; AigovError naming the file and line on a bad line."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise AigovError('compliance history %s line %d is not JSON (%s); fix or remove the line' % (path, number, exc))
        problem = _problem(item)
        if problem:
            raise AigovError('compliance history %s line %d: %s; fix or remove the line' % (path, number, problem))
        records.append(item)
    return records


def read(path):
    """The records kept at path, oldest first; [] when there is no history yet."""
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AigovError("cannot read the compliance history '%s': %s" % (path, exc.strerror or exc))
    return parse(text, path)


def bounded(records, keep):
    """The last `keep` records (at least the newest one)."""
    return list(records)[-max(1, keep):]


def render(records):
    return ''.join(json.dumps(item, sort_keys=True) + '\n' for item in records)


@contextlib.contextmanager
def locked(directory):
    """Hold an exclusive lock on the directory's history while reading and rewriting it."""
    path = os.path.join(directory, LOCK_FILE)
    try:
        handle = open(path, 'a')
    except OSError as exc:
        raise AigovError("cannot lock the compliance history in '%s': %s" % (directory, exc.strerror or exc))
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""Compliance history: records that follow their schema, bounded, refused with file and line when broken."""

import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils.reports import report_history
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

from tests.contracts import validate
from tests.unit.plugins.module_utils import reportdata


def test_record_follows_its_schema_and_counts_waived_apart():
    check = reportdata.check(waive='AIGOV-MS-001')
    item = report_history.record(check, reportdata.GENERATED_AT)
    validate(item, 'compliance-history.v1.json')
    assert (item['findings'], item['waived']) == (2, 2)
    assert item['by_severity'] == {'info': 0, 'low': 0, 'medium': 0, 'high': 1, 'critical': 1}
    assert (item['hosts_scanned'], item['hosts_missing'], item['complete'], item['compliant']) == (3, 1, False, False)


def test_report_with_trend_follows_the_report_schema():
    validate(reportdata.document(), 'compliance-report.v1.json')


def test_round_trip(tmp_path):
    records = [report_history.record(reportdata.check(), 'T%d' % n) for n in range(3)]
    path = tmp_path / report_history.HISTORY_FILE
    path.write_text(report_history.render(records))
    assert report_history.read(str(path)) == records
    assert len(path.read_text().splitlines()) == 3


def test_no_history_yet(tmp_path):
    assert report_history.read(str(tmp_path / 'none.jsonl')) == []


@pytest.mark.parametrize('keep, count, expected', [(100, 5, 5), (3, 5, 3), (1, 5, 1), (0, 5, 1), (100, 150, 100)])
def test_bounded_keeps_the_newest(keep, count, expected):
    records = list(range(count))
    kept = report_history.bounded(records, keep)
    assert len(kept) == expected and kept[-1] == count - 1


@pytest.mark.parametrize('line, problem', [
    ('{"schema_version": 1', 'line 2 is not JSON'),
    ('[1, 2]', 'line 2: not a JSON object'),
    ('{"schema_version": 2}', 'line 2: schema_version must be 1, got 2'),
    ('GOOD|"findings": "3"', 'line 2: findings must be an integer'),
    ('GOOD|"compliant": 1', 'line 2: compliant must be true or false'),
    ('GOOD|"by_severity": {"high": 1}', 'line 2: by_severity must count info, low, medium, high, critical'),
])
def test_broken_line_names_file_and_line(tmp_path, line, problem):
    good = report_history.record(reportdata.check(), reportdata.GENERATED_AT)
    if line.startswith('GOOD|'):
        key, value = line[5:].split(': ', 1)
        line = json.dumps(dict(good, **{json.loads(key): json.loads(value)}))
    path = tmp_path / report_history.HISTORY_FILE
    path.write_text(json.dumps(good) + '\n' + line + '\n')
    with pytest.raises(AigovError) as caught:
        report_history.read(str(path))
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_lock_is_exclusive(tmp_path):
    import fcntl
    with report_history.locked(str(tmp_path)):
        with open(str(tmp_path / report_history.LOCK_FILE)) as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(str(tmp_path / report_history.LOCK_FILE)) as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # released

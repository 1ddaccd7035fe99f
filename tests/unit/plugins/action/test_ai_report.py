"""ai_report on the controller: every format written, the trend kept and bounded, check mode writes nothing."""

import hashlib
import json
import os
import types

import junitparser
import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.action.ai_report import ActionModule
from ansible_collections.aigov.core.plugins.module_utils.reports import report_history
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

from tests.contracts import sarif_errors, validate
from tests.unit.plugins.module_utils import reportdata

FILES = ['compliance-history.jsonl', 'compliance-report.html', 'compliance-report.json', 'compliance-report.junit.xml',
         'compliance-report.sarif', 'framework-coverage.json']


def run(dest, check_mode=False, **args):
    """Call the action's work the way ControllerAction.run does, after argument validation."""
    action = ActionModule.__new__(ActionModule)
    action._task = types.SimpleNamespace(check_mode=check_mode)
    spec = ActionModule.ARGUMENT_SPEC
    full = dict((name, option.get('default')) for name, option in spec.items())
    full.update(check=reportdata.check(), dest=str(dest))
    full.update(args)
    return action.run_on_controller(full, {}, {})


def snapshot(directory):
    return dict((name, hashlib.sha256((directory / name).read_bytes()).hexdigest())
                for name in sorted(os.listdir(str(directory))))


def test_writes_every_format_and_the_history(tmp_path):
    dest = tmp_path / 'reports'
    result = run(dest)
    assert sorted(name for name in os.listdir(str(dest)) if not name.startswith('.')) == FILES
    assert sorted(result['files']) == [str(dest / name) for name in FILES[1:]]
    assert result['history'] == str(dest / 'compliance-history.jsonl') and len(result['trend']) == 1
    document = json.loads((dest / 'compliance-report.json').read_text())
    validate(document, 'compliance-report.v1.json')
    assert document['trend'] == result['trend']
    assert sarif_errors(json.loads((dest / 'compliance-report.sarif').read_text())) == []
    junitparser.JUnitXml.fromfile(str(dest / 'compliance-report.junit.xml'))
    assert (dest / 'compliance-report.html').read_text().startswith('<!DOCTYPE html>')
    coverage = json.loads((dest / 'framework-coverage.json').read_text())
    validate(coverage, 'framework-coverage.v1.json')
    assert coverage['frameworks'] == document['coverage']
    assert [entry['framework'] for entry in result['coverage']] == [entry['framework'] for entry in coverage['frameworks']]
    assert result['coverage_lines'][0].endswith('controls covered')


def test_each_scan_adds_a_point_and_the_history_is_bounded(tmp_path):
    for scan in range(4):
        result = run(tmp_path, history_size=3)
        assert len(result['trend']) == min(scan + 1, 3)
    records = report_history.read(str(tmp_path / report_history.HISTORY_FILE))
    assert records == result['trend'] and len(records) == 3
    assert json.loads((tmp_path / 'compliance-report.json').read_text())['trend'] == records


def test_check_mode_writes_nothing(tmp_path):
    run(tmp_path)
    before = snapshot(tmp_path)
    result = run(tmp_path, check_mode=True)
    assert snapshot(tmp_path) == before
    assert len(result['trend']) == 2 and result['msg'].startswith('report would be written')
    missing = tmp_path / 'new'
    run(missing, check_mode=True)
    assert not missing.exists()


def test_only_the_formats_asked_for(tmp_path):
    result = run(tmp_path, formats=['junit'], history_size=0)
    assert os.listdir(str(tmp_path)) == ['compliance-report.junit.xml']
    assert result['history'] is None and len(result['trend']) == 1


@pytest.mark.parametrize('args, message', [
    ({'history_size': -1}, 'history_size must be 0 (keep no history) or more, got -1'),
    ({'check': {'summary': {}}}, 'check is not an aigov.core.ai_policy_check result (missing scope, policy_packs'),
])
def test_bad_arguments_are_clear_errors(tmp_path, args, message):
    with pytest.raises(AnsibleActionFail, match=message.replace('(', r'\(').replace(')', r'\)')):
        run(tmp_path, **args)


def test_broken_history_is_refused_and_left_alone(tmp_path):
    path = tmp_path / report_history.HISTORY_FILE
    path.write_text('not json\n')
    with pytest.raises(AigovError, match='compliance-history.jsonl line 1 is not JSON'):
        run(tmp_path)
    assert path.read_text() == 'not json\n' and not (tmp_path / 'compliance-report.json').exists()

"""One rule for the shared files and relative paths (module_utils/common/paths.py), and every front end on it."""

import glob
import os
import runpy

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file
from tests.conftest import FARM, ROOT

BASE = '/srv/project'


@pytest.mark.parametrize('shared, value, environ, expected', [
    (paths.AUDIT_LOG, None, {}, BASE + '/aigov-data/audit.jsonl'),
    (paths.AUDIT_LOG, '', {'AIGOV_AUDIT_LOG': ''}, BASE + '/aigov-data/audit.jsonl'),  # empty is unset
    (paths.AUDIT_LOG, None, {'AIGOV_AUDIT_LOG': '/var/lib/aigov/audit.jsonl'}, '/var/lib/aigov/audit.jsonl'),
    (paths.AUDIT_LOG, 'logs/a.jsonl', {'AIGOV_AUDIT_LOG': '/var/lib/aigov/audit.jsonl'}, BASE + '/logs/a.jsonl'),
    (paths.AUDIT_LOG, None, {'AIGOV_AUDIT_LOG': 'rel/audit.jsonl'}, BASE + '/rel/audit.jsonl'),
    (paths.AUDIT_LOG, '~/audit.jsonl', {'HOME': '/home/ops'}, os.path.expanduser('~') + '/audit.jsonl'),
    (paths.AUDIT_LOG, './x/../audit.jsonl', {}, BASE + '/audit.jsonl'),
    (paths.ASSET_STORE, None, {}, BASE + '/aigov-data/assets.sqlite3'),
    (paths.ASSET_STORE, None, {'AIGOV_ASSET_STORE': '/data/assets.sqlite3'}, '/data/assets.sqlite3'),
    (paths.ASSET_STORE, '/abs/s.sqlite3', {'AIGOV_ASSET_STORE': '/data/assets.sqlite3'}, '/abs/s.sqlite3'),
    (paths.APPROVALS_QUEUE, None, {}, BASE + '/aigov-data/approvals.jsonl'),
    (paths.APPROVALS_QUEUE, None, {'AIGOV_AUDIT_LOG': '/var/lib/aigov/audit.jsonl'}, '/var/lib/aigov/approvals.jsonl'),
    (paths.APPROVALS_QUEUE, None, {'AIGOV_APPROVALS_QUEUE': 'q.jsonl', 'AIGOV_AUDIT_LOG': '/l/a.jsonl'}, BASE + '/q.jsonl'),
    # rule 4: the queue follows a log in PostgreSQL into its database, and $AIGOV_DATABASE puts it there too
    (paths.APPROVALS_QUEUE, None, {'AIGOV_AUDIT_LOG': 'postgresql://aigov@db/aigov'}, 'postgresql://aigov@db/aigov'),
    (paths.APPROVALS_QUEUE, None, {'AIGOV_DATABASE': 'postgresql://'}, 'postgresql://'),
    (paths.APPROVALS_QUEUE, None, {'AIGOV_DATABASE': 'postgresql://', 'AIGOV_APPROVALS_QUEUE': 'q.jsonl'}, BASE + '/q.jsonl'),
])
def test_value_then_environment_then_default_relative_to_the_base(shared, value, environ, expected):
    assert paths.resolve(shared, value, environ, BASE) == expected


def test_the_queue_follows_a_relative_audit_log_not_the_root():
    """The playbooks put it at `(aigov_audit_log | dirname) ~ '/approvals.jsonl'`: /approvals.jsonl for 'audit.jsonl'."""
    assert paths.resolve(paths.APPROVALS_QUEUE, None, {}, BASE, audit_log='audit.jsonl') == BASE + '/approvals.jsonl'
    assert paths.resolve(paths.APPROVALS_QUEUE, None, {}, BASE, audit_log='/l/a.jsonl') == '/l/approvals.jsonl'


def test_the_base_is_the_current_directory_for_shared_and_data_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('AIGOV_AUDIT_LOG', raising=False)
    (tmp_path / 'default').write_text('schema_version: 1\n')  # a file of that name wins over the bundled one
    assert paths.base_dir() == str(tmp_path)
    assert paths.resolve(paths.AUDIT_LOG) == str(tmp_path / 'aigov-data' / 'audit.jsonl')
    assert resolve_data_file('registry', 'mine.yml') == str(tmp_path / 'mine.yml')
    assert resolve_data_file('registry', 'default') == str(tmp_path / 'default')


def test_the_event_source_resolves_like_the_modules(tmp_path, monkeypatch):
    """It ignored AIGOV_ASSET_STORE and did not expand ~; now it takes both options through paths.resolve."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'decision.keys').write_text('unit:%s\n' % ('u' * 40))
    (tmp_path / 'decision.keys').chmod(0o600)
    monkeypatch.setenv('AIGOV_DECISION_KEY_FILE', str(tmp_path / 'decision.keys'))
    monkeypatch.setenv('AIGOV_ASSET_STORE', 'stores/assets.sqlite3')
    monkeypatch.setenv('AIGOV_AUDIT_LOG', '~/aigov-audit.jsonl')
    source = runpy.run_path(os.path.join(FARM, 'ansible_collections', 'aigov', 'core', 'extensions', 'eda', 'plugins',
                                         'event_source', 'aiops_alerts.py'))
    checked = source['_validate']({'port': 5999, 'token': 't'})
    assert checked['enricher'].store_path == str(tmp_path / 'stores' / 'assets.sqlite3') == paths.resolve(paths.ASSET_STORE)
    assert checked['audit_log'] == os.path.expanduser('~/aigov-audit.jsonl') == paths.resolve(paths.AUDIT_LOG)


def _front_end_files():
    for pattern in ('plugins/**/*.py', 'extensions/eda/plugins/**/*.py'):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            if not path.endswith(os.path.join('common', 'paths.py')):
                yield path


def test_no_front_end_has_its_own_base_directory():
    """ai_policy_check took the playbook's directory (inside the collection for aigov.core.* playbooks), others cwd."""
    offenders = [os.path.relpath(path, ROOT) for path in _front_end_files()
                 if any(call in open(path).read() for call in ('get_basedir()', 'os.getcwd()', "'aigov-data/", 'env_fallback, [audit_log'))]
    assert offenders == []


def _yaml_files():
    for pattern in ('playbooks/*.yml', 'roles/*/tasks/**/*.yml', 'roles/*/defaults/*.yml', 'extensions/eda/rulebooks/*.yml'):
        yield from glob.glob(os.path.join(ROOT, pattern), recursive=True)


def test_playbooks_roles_and_rulebooks_leave_the_rule_to_the_modules():
    """No Jinja default of a shared file, no lookup of its variable, no role default that hides the variable."""
    offenders = []
    for path in _yaml_files():
        text = '\n'.join(line for line in open(path).read().splitlines() if not line.lstrip().startswith('#'))
        if any(shared.env in text for shared in paths.SHARED_FILES) or any(
                'aigov-data/%s' % name in text for name in ('assets', 'audit', 'approvals')):
            offenders.append(os.path.relpath(path, ROOT))
        if "dirname) ~ '/approvals.jsonl'" in text:
            offenders.append(os.path.relpath(path, ROOT))
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'defaults', 'main.yml')):
        defaults = yaml.safe_load(open(path)) or {}
        offenders += ['%s: %s' % (os.path.relpath(path, ROOT), key) for key in defaults if key.endswith('_audit_log')]
    assert sorted(set(offenders)) == []

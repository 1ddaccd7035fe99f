"""aigov.core.ai_assets through the real ansible-inventory CLI over a store in PostgreSQL: the same golden files as the
embedded store (tests/integration/golden/inventory), chosen by the option or by $AIGOV_DATABASE alone."""

import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests import pg
from tests.fixtures.inventory import estate
from tests.integration.conftest import Ansible
from tests.integration.test_inventory_plugin import CONFIGS, FIXTURES, GOLDEN, inventory_list, normalized, write_config


@pytest.fixture
def pg_ansible(ansible_env, pg_cluster, pg_database, tmp_path):
    """ansible CLIs whose environment holds the database password as a deployment's would (PGPASSWORD), store seeded."""
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(pg_database), json.loads(json.dumps(scans)), when)
    (tmp_path / 'registry.yml').write_text(open(os.path.join(FIXTURES, 'registry.yml')).read())
    return Ansible(dict(ansible_env, **pg_cluster.env()))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_inventory_from_postgresql_matches_the_golden_file(pg_ansible, pg_database, tmp_path, name):
    got = normalized(inventory_list(pg_ansible, write_config(tmp_path, name, dict(CONFIGS[name], store=pg_database))))
    with open('%s/%s.json' % (GOLDEN, name)) as handle:
        assert got == json.load(handle)


def test_one_setting_chooses_the_database_and_the_password_never_shows(pg_ansible, pg_database, tmp_path):
    pg_ansible.env = dict(pg_ansible.env, AIGOV_DATABASE=pg_database)
    got = normalized(inventory_list(pg_ansible, write_config(tmp_path, 'default', CONFIGS['default'])))
    with open('%s/default.json' % GOLDEN) as handle:
        assert got == json.load(handle)
    assert not (tmp_path / 'aigov-data').exists()  # nothing read from or made in the embedded default
    wrong = dict(CONFIGS['default'], store=pg_database.replace('%s@' % pg.USER, '%s:%s@' % (pg.USER, pg.PASSWORD)) + 'x')
    proc = pg_ansible.run('ansible-inventory', '-i', write_config(tmp_path, 'wrong', wrong), '--list', cwd=str(tmp_path))
    assert 'cannot connect to the asset store' in proc.stderr, proc.stderr
    assert all(pg.PASSWORD not in output for output in pg_ansible.outputs)

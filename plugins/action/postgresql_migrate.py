# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.postgresql_migrate (docs: plugins/modules/postgresql_migrate.py)."""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.module_utils.store import migrate
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction


class ActionModule(ControllerAction):
    """Copy the embedded asset store and the file audit log into PostgreSQL."""

    ARGUMENT_SPEC = dict(
        store_file=dict(type='path'),
        audit_log_file=dict(type='path'),
        database=dict(type='str'),
    )

    def run_on_controller(self, args, task_vars, result):
        # The sources are files: $AIGOV_DATABASE must not turn their defaults into the target.
        environ = dict((key, value) for key, value in os.environ.items() if key != database.ENV)
        store = paths.resolve(paths.ASSET_STORE, args['store_file'], environ=environ)
        log = paths.resolve(paths.AUDIT_LOG, args['audit_log_file'], environ=environ)
        for what, where in (('store_file', store), ('audit_log_file', log)):
            if database.is_database(where):
                raise migrate.MigrationError('%s must be the file to copy, not a database' % what)
        target = args['database'] or os.environ.get(database.ENV)
        changed, found = migrate.migrate(store, log, target or '', check_mode=self._task.check_mode)
        result.update(changed=changed, **found)
        result['msg'] = '%s %d audit entries and %d assets on %d hosts into %s%s' % (
            'would copy' if self._task.check_mode and changed else 'copied' if changed else 'already copied:',
            found['audit_log']['entries'], found['asset_store']['assets'], found['asset_store']['hosts'], found['target'],
            '; keep the anchor %(seq)s %(hash)s outside the database' % found['audit_log']['anchor']
            if found['audit_log']['anchor'] else '')
        return result

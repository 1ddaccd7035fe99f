# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_asset_store (docs: plugins/modules/ai_asset_store.py)."""

from __future__ import annotations

import datetime

from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, host_scans
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file


def _diff(changes):
    """Changed assets one per line, before and after, so --diff reads like a file diff."""
    def lines(kinds, mark_updates):
        return ''.join('%s %s %s (%s)%s\n' % (
            item['inventory_hostname'], item['kind'], item['name'], item['id'],
            ' [updated]' if mark_updates and kind == 'updated' else '') for kind in kinds for item in changes[kind])
    return dict(before_header='asset store', after_header='asset store',
                before=lines(('removed', 'updated'), False), after=lines(('added', 'reappeared', 'updated'), True))


class ActionModule(ControllerAction):
    """Record the discovery results of hosts in the asset store."""

    ARGUMENT_SPEC = dict(
        path=dict(type='path'),
        hosts=dict(type='list', elements='str'),
        registry=dict(type='str', default='default'),
    )
    SHARED_PATHS = dict(path=paths.ASSET_STORE)

    def run_on_controller(self, args, task_vars, result):
        reg = registry.load_registry(resolve_data_file('registry', args['registry']))
        _targeted, scans, missing = host_scans(args['hosts'], task_vars)
        store = open_store(args['path'])
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        changes = asset_store.record_scans(store, scans, now, dry_run=self._task.check_mode)
        counts = dict((kind, len(changes[kind])) for kind in asset_store.CHANGE_KINDS)
        result.update(
            changed=asset_store.changed(changes),
            path=store.path,
            hosts_recorded=[scan['inventory_hostname'] for scan in scans],
            hosts_missing=missing,
            counts=counts,
            shadow=[dict((key, asset.get(key)) for key in ('id', 'kind', 'name', 'inventory_hostname'))
                    for scan in scans for asset in scan['assets'] if registry.match(reg, asset)['shadow']],
            msg='%s %d host(s) in %s: %s' % ('would record' if self._task.check_mode else 'recorded', len(scans),
                                             store.path, ', '.join('%d %s' % (counts[k], k) for k in asset_store.CHANGE_KINDS)),
            **dict((kind, changes[kind]) for kind in asset_store.CHANGE_KINDS))
        if self._task.diff and result['changed']:
            result['diff'] = _diff(changes)
        return result

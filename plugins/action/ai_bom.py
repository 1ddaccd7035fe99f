# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.ai_bom (docs: plugins/modules/ai_bom.py)."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail

from ansible_collections.aigov.core.plugins.module_utils.reports import aibom
from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.plugin_utils.action import ControllerAction, collect_assets, store_assets
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import collection_version, resolve_data_file


def read_existing(dest):
    """The BOM already at dest, parsed; None when there is none or it is not JSON (it is replaced)."""
    if not os.path.exists(dest):
        return None
    try:
        with open(dest) as handle:
            return json.load(handle)
    except ValueError:
        return None
    except OSError as exc:
        raise AnsibleActionFail("cannot read the existing AI-BOM '%s': %s" % (dest, exc.strerror or exc))


class ActionModule(ControllerAction):
    """Export discovered AI assets as a CycloneDX 1.6 AI-BOM file on the controller."""

    ARGUMENT_SPEC = dict(
        assets=dict(type='list', elements='dict'),
        hosts=dict(type='list', elements='str'),
        store=dict(type='path'),
        registry=dict(type='str', default='default'),
        dest=dict(type='path', required=True),
    )

    def run_on_controller(self, args, task_vars, result):
        if sum(args[key] is not None for key in ('assets', 'hosts', 'store')) > 1:
            raise AnsibleActionFail('give one of assets, hosts and store, not several')
        dest = os.path.abspath(args['dest'])
        if os.path.isdir(dest):
            raise AnsibleActionFail("dest '%s' is a directory; give the path of the AI-BOM file, e.g. %s"
                                    % (dest, os.path.join(dest, 'ai-bom.cdx.json')))
        try:
            reg = registry.load_registry(resolve_data_file('registry', args['registry']))
        except AigovError as exc:
            raise AnsibleActionFail('AI-BOM not built: %s' % exc)

        if args['store'] is not None:
            assets, scope = store_assets(paths.local_path(args['store']))
        else:
            assets, scope = collect_assets(args['assets'], args['hosts'], task_vars)
        for asset in assets:
            asset['registry'] = registry.match(reg, asset)
        bom = aibom.build_bom(assets, collection_version(), scope)
        old = read_existing(dest)
        changed = not aibom.same_content(old, bom)

        result.update(changed=changed, dest=dest, components=len(bom['components']), services=len(bom['services']))
        if self._task.diff and changed:
            result['diff'] = dict(before_header=dest, after_header=dest,
                                  before=aibom.inventory_lines(old) if old is not None else '',
                                  after=aibom.inventory_lines(bom))
        counts = '%d component(s), %d service(s)' % (result['components'], result['services'])
        if not changed:
            result['msg'] = 'AI-BOM %s is up to date (%s)' % (dest, counts)
        elif self._task.check_mode:
            result['msg'] = 'AI-BOM would be written to %s (%s)' % (dest, counts)
        else:
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                write_atomically(dest, aibom.render_json(bom), 0o644)
            except OSError as exc:
                raise AnsibleActionFail("cannot write the AI-BOM to '%s': %s" % (dest, exc.strerror or exc))
            result['msg'] = 'AI-BOM written to %s (%s)' % (dest, counts)
        return result

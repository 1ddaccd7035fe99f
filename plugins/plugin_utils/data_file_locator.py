# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the controller finds data files: bundled with the collection or a user's path.

It only locates them; module_utils/common/data_file_loader.py reads and checks what is found.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED_NAME = re.compile(r'^[a-z0-9][a-z0-9_-]*$')
BUNDLED_DIRS = {'policy pack': 'policies', 'registry': 'registry', 'guardrail policy': 'guardrails',
                'action table': 'actions'}


def bundled_names(kind):
    """Names of the data files of a kind that ship with the collection."""
    directory = os.path.join(COLLECTION_ROOT, BUNDLED_DIRS[kind])
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith('.yml'))


def collection_version():
    """This collection's version: from MANIFEST.json when installed, else galaxy.yml of a checkout."""
    manifest = os.path.join(COLLECTION_ROOT, 'MANIFEST.json')
    if os.path.isfile(manifest):
        with open(manifest) as handle:
            return json.load(handle)['collection_info']['version']
    with open(os.path.join(COLLECTION_ROOT, 'galaxy.yml')) as handle:
        found = re.search(r'^version:\s*(\S+)', handle.read(), re.MULTILINE)
    return found.group(1) if found else 'unknown'


def resolve_data_file(kind, value, base_dir=None):
    """Turn a bundled name (`default`) or a path into an absolute path.

    A bare name that is not an existing file names a file shipped with the
    collection; anything else is a path, relative to base_dir: the base
    directory of every relative path (paths.base_dir()) unless an inventory
    source gives its own directory.
    """
    path = paths.local_path(value, base_dir)
    if BUNDLED_NAME.match(value) and not os.path.exists(path):
        path = os.path.join(COLLECTION_ROOT, BUNDLED_DIRS[kind], value + '.yml')
        if not os.path.isfile(path):
            raise AigovError('no bundled %s named %r (bundled: %s); give a path to use your own file'
                             % (kind, value, ', '.join(bundled_names(kind))))
    return path


def load_action_table(value, base_dir=None):
    """The action table an `actions` option names: a bundled name or a path (resolve_data_file), or a
    mapping: a whole table, or the older form {alert name: remediation} with the bundled remediations."""
    if value is None:
        value = 'default'
    if not isinstance(value, dict):
        return actions.load_actions(resolve_data_file('action table', str(value), base_dir))
    if 'actions' in value or 'remediations' in value:
        return actions.check_table(value, 'the action table given as a mapping')
    return actions.from_mapping(value, load_action_table('default', base_dir))

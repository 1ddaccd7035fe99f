# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the collection's YAML data files (policy packs, registries) with clear errors.

It only reads and checks them; plugin_utils/data_file_locator.py finds them (bundled name or path).
"""

from __future__ import annotations

import hashlib

from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False


def load_yaml_mapping(path, kind):
    """Return (data, sha256) of a YAML file whose top level must be a mapping."""
    if not HAS_YAML:
        raise DataFileError(path, ['PyYAML is required to read %s files' % kind])
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise DataFileError(path, ['cannot read %s file: %s' % (kind, exc.strerror or exc)])
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise DataFileError(path, ['not valid YAML: %s' % exc])
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise DataFileError(path, ['not valid YAML: nested too deeply']) from None
    if not isinstance(data, dict):
        raise DataFileError(path, ['the top level of the %s file must be a mapping, got %s' % (kind, type(data).__name__)])
    return data, hashlib.sha256(raw).hexdigest()


def check_schema_version(data, supported, problems):
    """Append a problem unless data['schema_version'] is supported."""
    version = data.get('schema_version')
    if version not in supported:
        problems.append('schema_version must be one of %s, got %r' % (', '.join(str(v) for v in supported), version))

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AI registry: use cases, their accountable owners and risk tiers.

Discovered assets are matched to use cases by selectors (docs/registry.md).
An asset no use case claims is shadow AI. The match is what policy
expressions see as `registry` next to the asset.
"""

from __future__ import annotations

import fnmatch
import re

from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError
from ansible_collections.aigov.core.plugins.module_utils.store import registry_signers

REGISTRY_SCHEMA_VERSIONS = (1,)
RISK_TIERS = ('minimal', 'limited', 'high', 'prohibited')
OWNER_ROLES = ('decision', 'risk', 'escalation')
ENVIRONMENTS = ('on_prem', 'cloud', 'edge')
SHA256 = re.compile(r'^[0-9a-f]{64}$')
SELECTOR_KEYS = ('id', 'kind', 'name', 'host', 'inventory_hostname', 'model', 'image', 'container', 'k8s_namespace')
LABEL_KEY = 'label:'  # label:<name> matches a container label's value (a server's container, or an artifact's)
USE_CASE_ID = re.compile(r'^[a-z0-9][a-z0-9_.-]*$')
_USE_CASE_KEYS = frozenset(('id', 'name', 'description', 'risk_tier', 'owners', 'environment', 'region',
                            'approved_models', 'allowed_regions', 'assets') + registry_signers.USE_CASE_KEYS)


def _check_owners(owners, where, problems):
    if owners is None:
        return
    if not isinstance(owners, dict):
        problems.append('%s: owners must be a mapping of %s to a person or team' % (where, '/'.join(OWNER_ROLES)))
        return
    for role, owner in owners.items():
        if role not in OWNER_ROLES:
            problems.append('%s: unknown owner role %r (known: %s)' % (where, role, ', '.join(OWNER_ROLES)))
        elif not isinstance(owner, str) or not owner.strip():
            problems.append('%s: owners.%s must be a non-empty string' % (where, role))


def check_selectors(selectors, where, problems):
    """Append a problem for each malformed selector (also used by waivers: one home for selectors)."""
    if not isinstance(selectors, list) or not selectors:
        problems.append('%s: assets must be a non-empty list of selectors' % where)
        return
    for index, selector in enumerate(selectors):
        spot = '%s: assets[%d]' % (where, index)
        if not isinstance(selector, dict) or not selector:
            problems.append('%s must be a non-empty mapping of %s' % (spot, ', '.join(SELECTOR_KEYS)))
            continue
        for key, value in selector.items():
            if key not in SELECTOR_KEYS and not (isinstance(key, str) and key.startswith(LABEL_KEY) and len(key) > len(LABEL_KEY)):
                problems.append('%s: unknown selector key %r (known: %s)' % (spot, key, ', '.join(SELECTOR_KEYS)))
            elif not isinstance(value, str) or not value:
                problems.append('%s: %s must be a non-empty string (glob patterns allowed)' % (spot, key))


def _check_approved_models(models, where, problems):
    if models is None:
        return
    if not isinstance(models, list):
        problems.append('%s: approved_models must be a list of {name, sha256, path}' % where)
        return
    for index, model in enumerate(models):
        spot = '%s: approved_models[%d]' % (where, index)
        if not isinstance(model, dict) or set(model) - set(('name', 'sha256', 'path')):
            problems.append('%s must be a mapping with keys name, sha256 and an optional path' % spot)
        elif not isinstance(model.get('name'), str) or not model['name']:
            problems.append('%s: name must be a non-empty string' % spot)
        elif not isinstance(model.get('sha256'), str) or not SHA256.match(model['sha256']):
            problems.append('%s: sha256 must be 64 lower-case hex digits' % spot)
        elif 'path' in model and not (isinstance(model['path'], str) and model['path'].startswith('/')):
            # where a copy of the approved file is kept on the hosts, for a rollback (docs/remediation.md)
            problems.append('%s: path must be an absolute path' % spot)


def _check_regions(regions, where, problems):
    if regions is not None and (not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions)):
        problems.append('%s: allowed_regions must be a list of region names' % where)


def _check_use_case(use_case, index, seen, problems):
    if not isinstance(use_case, dict):
        problems.append('use_cases[%d]: must be a mapping' % index)
        return
    where = 'use_cases[%d] (id %s)' % (index, use_case.get('id'))
    use_case_id = use_case.get('id')
    if not isinstance(use_case_id, str) or not USE_CASE_ID.match(use_case_id):
        problems.append('%s: id must be lower-case letters, digits, dots, dashes or underscores' % where)
    elif use_case_id in seen:
        problems.append('%s: duplicate use case id' % where)
    seen.add(use_case_id)
    for key in sorted(set(use_case) - _USE_CASE_KEYS):
        problems.append('%s: unknown key %r (known: %s)' % (where, key, ', '.join(sorted(_USE_CASE_KEYS))))
    if 'risk_tier' in use_case and use_case['risk_tier'] not in RISK_TIERS:
        problems.append('%s: risk_tier must be one of %s, got %r' % (where, ', '.join(RISK_TIERS), use_case['risk_tier']))
    if 'environment' in use_case and use_case['environment'] not in ENVIRONMENTS:
        problems.append('%s: environment must be one of %s, got %r' % (where, ', '.join(ENVIRONMENTS), use_case['environment']))
    for key in ('region', 'name', 'description'):
        if key in use_case and not isinstance(use_case[key], str):
            problems.append('%s: %s must be a string' % (where, key))
    regions = use_case.get('allowed_regions', [])
    if not isinstance(regions, list) or not all(isinstance(region, str) and region for region in regions):
        # a bare string would later match by substring ('eu' in 'eu-west-1')
        problems.append('%s: allowed_regions must be a list of region names' % where)
    _check_owners(use_case.get('owners'), where, problems)
    _check_approved_models(use_case.get('approved_models'), where, problems)
    check_selectors(use_case.get('assets'), where, problems)
    _check_regions(use_case.get('allowed_regions'), where, problems)


def load_registry(path):
    """Load and validate a registry file; raise DataFileError listing every problem."""
    data, digest = load_yaml_mapping(path, 'registry')
    problems = []
    check_schema_version(data, REGISTRY_SCHEMA_VERSIONS, problems)
    use_cases = data.get('use_cases', [])
    if not isinstance(use_cases, list):
        problems.append('use_cases must be a list')
        use_cases = []
    seen = set()
    for index, use_case in enumerate(use_cases):
        _check_use_case(use_case, index, seen, problems)
    registry_signers.check(data, use_cases, problems)  # model provenance (docs/model-provenance.md)
    if problems:
        raise DataFileError(path, problems)
    return {'path': path, 'sha256': digest, 'use_cases': use_cases, 'model_signers': list(data.get('model_signers') or [])}


def _container(asset):
    """The container an asset runs in (a server's container attribute), or the first one that mounts it (a model file)."""
    attributes = asset.get('attributes') or {}
    if isinstance(attributes.get('container'), dict):
        return attributes['container']
    mounted = attributes.get('containers')
    return mounted[0] if isinstance(mounted, list) and mounted and isinstance(mounted[0], dict) else {}


def _selector_value(asset, key):
    if key == 'model':
        return (asset.get('attributes') or {}).get('model')
    if key in ('image', 'container'):
        return _container(asset).get('image' if key == 'image' else 'name')
    if key == 'k8s_namespace':
        return (_container(asset).get('kubernetes') or {}).get('namespace')
    if key.startswith(LABEL_KEY):
        return (_container(asset).get('labels') or {}).get(key[len(LABEL_KEY):])
    return asset.get(key)


def selector_matches(selector, asset):
    """True when every key of the selector matches the asset (shell-style globs)."""
    for key, pattern in selector.items():
        value = _selector_value(asset, key)
        if value is None or not fnmatch.fnmatchcase(str(value), pattern):
            return False
    return True


def _model_approved(use_case, asset):
    """For a hashed model file of a use case that lists approved models: is its digest one of them?"""
    approved = use_case.get('approved_models')
    digest = (asset.get('attributes') or {}).get('sha256')
    if asset.get('kind') != 'model_artifact' or not approved or not digest:
        return None
    return digest in set(model['sha256'] for model in approved)


def match(registry, asset):
    """Return what the registry says of an asset: use case, risk tier, owners, shadow or not."""
    for use_case in registry['use_cases'] if registry else ():
        if any(selector_matches(selector, asset) for selector in use_case['assets']):
            return {
                'registered': True,
                'shadow': False,
                'use_case': use_case['id'],
                'use_case_name': use_case.get('name'),
                'risk_tier': use_case.get('risk_tier'),
                'owners': dict(use_case.get('owners') or {}),
                'environment': use_case.get('environment'),
                'region': use_case.get('region'),
                'model_approved': _model_approved(use_case, asset),
                'allowed_regions': list(use_case['allowed_regions']) if use_case.get('allowed_regions') else None,
                **registry_signers.match_fields(registry, use_case, asset)
            }
    return dict({'registered': False, 'shadow': True, 'use_case': None, 'use_case_name': None, 'risk_tier': None,
                 'owners': {}, 'environment': None, 'region': None, 'model_approved': None,
                 'allowed_regions': None}, **registry_signers.match_fields(registry, None, asset))

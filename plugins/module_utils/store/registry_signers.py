# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model provenance in the registry: who may sign the models of a use case.

    model_signers:                 # top level: the trust settings (provenance/signers.py)
      - {name: ml-release, public_key: "-----BEGIN PUBLIC KEY-----..."}
    use_cases:
      - id: fraud-scoring
        require_signed_models: true  # its models must carry a valid signature
        trusted_signers: [ml-release]   # by one of these (default: every model_signers entry)

registry.py validates with check() and adds match_fields() to what a policy sees as
`registry`; the rollback gets trust_for() of the asset's use case.
"""

from __future__ import annotations

USE_CASE_KEYS = ('require_signed_models', 'trusted_signers')


def _parsed_signers(items):
    """provenance.signers.parse_signers() of model_signers. Its X.509 and key parsing is imported only for a registry
    that has signers: ansible-core compiles a collection's sources on every controller run (no bytecode cache)."""
    if items is None:
        return []
    from ansible_collections.aigov.core.plugins.module_utils.provenance.signers import parse_signers  # pylint: disable=import-outside-toplevel
    return parse_signers(items)


def check(data, use_cases, problems):
    """Append a problem for bad model_signers and for use cases naming signers that are not there."""
    try:
        names = set(signer['name'] for signer in _parsed_signers(data.get('model_signers')))
    except ValueError as exc:
        problems.append(str(exc))
        names = None
    for index, use_case in enumerate(use_cases):
        if not isinstance(use_case, dict):
            continue
        where = 'use_cases[%d] (id %s)' % (index, use_case.get('id'))
        if 'require_signed_models' in use_case and not isinstance(use_case['require_signed_models'], bool):
            problems.append('%s: require_signed_models must be true or false' % where)
        trusted = use_case.get('trusted_signers')
        if use_case.get('require_signed_models') is True and names is not None and not (names if trusted is None else trusted):
            problems.append('%s: require_signed_models needs a signer (model_signers, trusted_signers)' % where)
        if trusted is None:
            continue
        if not isinstance(trusted, list) or not all(isinstance(name, str) and name for name in trusted):
            problems.append('%s: trusted_signers must be a list of model_signers names' % where)
        elif names is not None:
            unknown = sorted(set(trusted) - names)
            if unknown:
                problems.append('%s: trusted_signers names %s, not in model_signers (%s)' % (
                    where, ', '.join(unknown), ', '.join(sorted(names)) or 'none'))


def _trusted_names(registry, use_case):
    if use_case.get('trusted_signers') is not None:
        return list(use_case['trusted_signers'])
    return [signer['name'] for signer in (registry or {}).get('model_signers') or []]


def match_fields(registry, use_case, asset):
    """{require_signed_models, trusted_signers, signer_trusted} for registry.match (use_case None: shadow).

    Empty when neither the registry nor the asset speaks of signatures: records of estates
    without provenance keep the shape they always had.
    """
    involved = (registry or {}).get('model_signers') or 'signature' in (asset.get('attributes') or {}) or \
        any(key in (use_case or {}) for key in USE_CASE_KEYS)
    if not involved:
        return {}
    if use_case is None:
        return {'require_signed_models': False, 'trusted_signers': None, 'signer_trusted': None}
    names = _trusted_names(registry, use_case)
    signature = (asset.get('attributes') or {}).get('signature') if asset.get('kind') == 'model_artifact' else None
    signer = (signature or {}).get('signer')
    return {'require_signed_models': bool(use_case.get('require_signed_models')),
            'trusted_signers': names if use_case.get('trusted_signers') is not None or use_case.get('require_signed_models')
            else None,
            'signer_trusted': None if not signer or not isinstance(signature, dict) else signer in names}


def trust_for(registry, use_case_id):
    """{required, signers: [settings]} of a use case: what the rollback checks a candidate against."""
    use_case = next((item for item in (registry or {}).get('use_cases') or [] if item.get('id') == use_case_id), None)
    if use_case is None:
        return {'required': False, 'signers': []}
    names = set(_trusted_names(registry, use_case))
    return {'required': bool(use_case.get('require_signed_models')),
            'signers': [dict(signer) for signer in registry.get('model_signers') or [] if signer.get('name') in names]}

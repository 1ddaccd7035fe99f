# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet context: facts about an asset that only the whole estate can tell.

A rule sees one asset at a time. Cross-asset questions ("is this key also
on other hosts?", "do the hosts of this use case run the same model file?")
are answered once per evaluation, in one pass over the assets, and written
on each asset as `fleet` (docs/policy-packs.md, "Fleet context"). Rules stay
plain JMESPath over one record: `fleet.credential_hosts <= `1``.

  credential     credential_hosts       hosts where the same fingerprint is found
                 credential_consumers   places that use it: processes (by host and command
                                        line) and MCP server configurations
  model_artifact digest_variants        distinct sha256 among hashed model files of the same
                                        use case at the same path (1 when every host agrees)
  model_server   version_variants       distinct versions of the same product in the same
                                        use case
"""

from __future__ import annotations

_CONSUMERS = ('process_env', 'argv', 'mcp_config')


def _host(asset):
    return asset.get('host') or asset.get('inventory_hostname')


def _use_case(asset):
    return (asset.get('registry') or {}).get('use_case')


def _fingerprint_use(asset):
    """(fingerprint, consumer place or None) of a credential asset, else None.

    MCP configurations are counted through their credential assets (source
    mcp_config), not the mcp_server assets too, so one use is never two.
    """
    attributes = asset.get('attributes') or {}
    if asset.get('kind') != 'credential' or not attributes.get('fingerprint'):
        return None
    place = attributes.get('location') if attributes.get('source') in _CONSUMERS else None
    return attributes['fingerprint'], place


def annotate(assets):
    """Write `fleet` on every asset (in place: no copy of the estate); return the assets."""
    hosts, consumers, digests, versions = {}, {}, {}, {}
    for asset in assets:
        host = _host(asset)
        attributes = asset.get('attributes') or {}
        kind = asset.get('kind')
        use = _fingerprint_use(asset)
        if use is not None:
            hosts.setdefault(use[0], set()).add(host)
            if use[1] is not None:
                consumers.setdefault(use[0], set()).add((host, use[1]))
        elif kind == 'model_artifact' and attributes.get('sha256'):
            digests.setdefault((_use_case(asset), attributes.get('path')), set()).add(attributes['sha256'])
        elif kind == 'model_server' and attributes.get('version'):
            versions.setdefault((_use_case(asset), attributes.get('product')), set()).add(attributes['version'])
    for asset in assets:
        attributes = asset.get('attributes') or {}
        kind = asset.get('kind')
        fleet = {}
        if kind == 'credential':
            fingerprint = attributes.get('fingerprint')
            fleet = {'credential_hosts': len(hosts.get(fingerprint, ())),
                     'credential_consumers': len(consumers.get(fingerprint, ()))}
        elif kind == 'model_artifact':
            fleet = {'digest_variants': len(digests.get((_use_case(asset), attributes.get('path')), ()))}
        elif kind == 'model_server':
            fleet = {'version_variants': len(versions.get((_use_case(asset), attributes.get('product')), ()))}
        asset['fleet'] = fleet
    return assets

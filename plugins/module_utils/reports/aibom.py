# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AI inventory as a CycloneDX 1.6 AI-BOM (docs/ai-bom.md).

Hosts and GPUs are `device` components, model files `machine-learning-model`
components, AI packages `library` components; model servers, vector databases
and MCP servers are services. Everything found on a host depends on that
host's component, and a server also depends on the model files it clearly
serves. Credentials are never exported: a host only carries their count.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import posixpath
import re
import uuid
from urllib.parse import quote, urlsplit

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

SPEC_VERSION = '1.6'
TOOL_NAME = 'aigov.core'
NAMESPACE = 'aigov:'
HOST_REF_PREFIX = 'host:'
COMPONENT_KINDS = ('model_artifact', 'ai_package', 'gpu')
SERVICE_KINDS = ('model_server', 'vector_db', 'mcp_server', 'agent')
COUNTED_KINDS = ('credential',)  # never exported, only counted per host
KINDS = COMPONENT_KINDS + SERVICE_KINDS + COUNTED_KINDS
REQUIRED_KEYS = ('id', 'kind', 'name', 'host', 'attributes')
AUTHENTICATED = {'configured': True, 'none': False}  # 'unknown' leaves the field out
VENDORS = {'nvidia': 'NVIDIA', 'amd': 'AMD'}
URL_SCHEMES = ('http', 'https', 'ws', 'wss')
# A Hugging Face repository id as a server names its model ("org/name" or "name").
HF_REPO_ID = re.compile(r'^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$')
HF_CACHE_DIR = re.compile(r'/models--([^/]+)/')


def _text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _properties(pairs):
    """CycloneDX properties from (name, value) pairs, empty values dropped, sorted."""
    props = set((NAMESPACE + name, _text(value)) for name, value in pairs if value is not None and value != '')
    return [{'name': name, 'value': value} for name, value in sorted(props)]


def host_key(asset):
    """The host an asset belongs to in the BOM: its inventory name, else its own host name."""
    return asset.get('inventory_hostname') or asset['host']


def host_ref(key):
    return HOST_REF_PREFIX + key


def uri_host(address):
    """An address as a URI host: IPv6 in brackets, written out in eight groups.

    The compressed form ([::1]) is valid, but validators built on rfc3987-syntax
    1.1.0 (the CycloneDX schema's iri-reference check) reject it.
    """
    if ':' not in address:
        return address
    try:
        packed = ipaddress.IPv6Address(address).packed
    except ValueError:
        return '[%s]' % address
    return '[%s]' % ':'.join('%x' % int.from_bytes(packed[i:i + 2], 'big') for i in range(0, 16, 2))


def endpoint(address, port):
    """http://address:port of a listener; wildcard addresses are kept as bound (docs/ai-bom.md)."""
    return 'http://%s:%d' % (uri_host(address), port)


def hf_repo_id(path):
    """The repository id of a file in a Hugging Face cache (models--org--name/...), else None."""
    found = HF_CACHE_DIR.search(path)
    return found.group(1).replace('--', '/', 1) if found else None


def _common(asset):
    pairs = [('asset_kind', asset['kind']), ('host', asset['host']),
             ('inventory_host', asset.get('inventory_hostname')), ('confidence', asset.get('confidence'))]
    match = asset.get('registry')
    if not isinstance(match, dict):
        return pairs
    pairs += [('registered', match.get('registered')), ('shadow', match.get('shadow')),
              ('use_case', match.get('use_case')), ('use_case_name', match.get('use_case_name')),
              ('risk_tier', match.get('risk_tier')), ('environment', match.get('environment')),
              ('region', match.get('region')), ('model_approved', match.get('model_approved'))]
    pairs += [('owner:' + role, owner) for role, owner in sorted((match.get('owners') or {}).items())]
    return pairs


def _model_component(asset):
    attrs = asset['attributes']
    path = attrs.get('path')
    component = {'type': 'machine-learning-model', 'bom-ref': asset['id'],
                 'name': (hf_repo_id(path) if path else None) or asset['name']}
    if attrs.get('sha256'):
        component['hashes'] = [{'alg': 'SHA-256', 'content': attrs['sha256']}]
    pairs = _common(asset) + [('path', path), ('format', attrs.get('format')), ('size', attrs.get('size')),
                              ('world_writable', attrs.get('world_writable'))]
    pickle = attrs.get('pickle')
    if pickle is not None or attrs.get('executes_code_on_load'):
        pairs.append(('executes_code_on_load', bool(attrs.get('executes_code_on_load'))))
        pairs += [('pickle_dangerous_import', name) for name in (pickle or {}).get('dangerous') or ()]
    component['properties'] = _properties(pairs + _signature_pairs(attrs.get('signature'), asset.get('registry') or {}))
    if path:
        component['evidence'] = {'occurrences': [{'location': path}]}
    # A model card only from what the registry declares; nothing is inferred.
    match = asset.get('registry') or {}
    if match.get('registered') and (match.get('use_case_name') or match.get('use_case')):
        component['modelCard'] = {'considerations': {'useCases': [match.get('use_case_name') or match['use_case']]}}
    return component


def _signature_pairs(signature, match):
    """Provenance (docs/model-provenance.md): status, method, signer and why a signature is invalid."""
    if not isinstance(signature, dict):
        return []
    pairs = [('signature_status', signature.get('status')), ('signature_method', signature.get('method')),
             ('signature_signer', signature.get('signer')), ('signature_signer_fingerprint', signature.get('signer_fingerprint')),
             ('signature_signer_subject', signature.get('signer_subject')), ('signer_trusted', match.get('signer_trusted'))]
    return pairs + [('signature_invalid_reason', reason) for reason in signature.get('reasons') or ()]


def _library_component(asset):
    attrs = asset['attributes']
    name, version = attrs.get('package') or asset['name'], attrs.get('version')
    component = {'type': 'library', 'bom-ref': asset['id'], 'name': name}
    purl = 'pkg:pypi/%s' % quote(name.lower(), safe='')
    if version:
        component['version'] = version
        purl += '@' + quote(version, safe='')
    component['purl'] = purl
    component['properties'] = _properties(_common(asset) + [
        ('category', attrs.get('category')), ('venv', attrs.get('venv')), ('site_packages', attrs.get('site_packages'))])
    return component


def _gpu_component(asset):
    attrs = asset['attributes']
    component = {'type': 'device', 'bom-ref': asset['id'], 'name': attrs.get('model') or asset['name']}
    if attrs.get('vendor'):
        component['manufacturer'] = {'name': VENDORS.get(attrs['vendor'], attrs['vendor'])}
    # The processes using the GPU are left out: pids change every run.
    component['properties'] = _properties(_common(asset) + [
        ('gpu_uuid', attrs.get('uuid')), ('pci_bus', attrs.get('pci_bus')), ('memory_mib', attrs.get('memory_mib')),
        ('driver', attrs.get('driver')), ('source', attrs.get('source'))])
    return component


def _listening_service(asset, name):
    """A service with the version and the endpoints of what a process listens on."""
    attrs = asset['attributes']
    service = {'bom-ref': asset['id'], 'name': name}
    if isinstance(attrs.get('version'), str) and attrs['version']:
        service['version'] = attrs['version']
    endpoints = sorted(set(endpoint(item['address'], item['port']) for item in attrs.get('listeners') or ()))
    if endpoints:
        service['endpoints'] = endpoints
    return service


def _agent_service(asset):
    """An agent runtime: endpoints if it listens; its credentials only counted (names stay out too)."""
    attrs = asset['attributes']
    service = _listening_service(asset, attrs.get('framework_name') or asset['name'])
    if attrs.get('exposed') is not None:
        service['x-trust-boundary'] = bool(attrs['exposed'])
    pairs = _common(asset) + [('framework', attrs.get('framework')),
                              ('credential_count', len(attrs.get('credential_env') or ()))]
    service['properties'] = _properties(pairs)
    return service


def _server_service(asset):
    attrs = asset['attributes']
    service = _listening_service(asset, attrs.get('product_name') or asset['name'])
    if attrs.get('auth') in AUTHENTICATED:
        service['authenticated'] = AUTHENTICATED[attrs['auth']]
    if attrs.get('exposed') is not None:
        service['x-trust-boundary'] = bool(attrs['exposed'])
    # Command line, pids and uid stay out: volatile, and a BOM travels further than a report.
    pairs = _common(asset) + [('product', attrs.get('product') or asset['name']), ('model', attrs.get('model')),
                              ('auth', attrs.get('auth'))]
    pairs += [('dev_mode', mode) for mode in attrs.get('dev_mode') or ()]
    service['properties'] = _properties(pairs)
    return service


def safe_url(url):
    """scheme://host[:port] of a URL: user info, path and query may carry tokens, so they are dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        return None
    return '%s://%s%s' % (parts.scheme, uri_host(parts.hostname), ':%d' % port if port else '')


def _is_loopback(hostname):
    try:
        return ipaddress.ip_address(hostname.strip('[]')).is_loopback
    except ValueError:
        return hostname == 'localhost'


def _mcp_service(asset):
    attrs = asset['attributes']
    service = _listening_service(asset, attrs.get('server') or asset['name'])
    url = safe_url(attrs['url']) if attrs.get('url') else None
    if url:
        service['endpoints'] = [url]
        # A remote MCP server is a trust boundary: the agent's data leaves the host.
        service['x-trust-boundary'] = not _is_loopback(urlsplit(url).hostname)
    elif attrs.get('transport') == 'stdio':
        service['x-trust-boundary'] = False
    command = attrs.get('command') or []
    pairs = _common(asset) + [
        ('client', attrs.get('client')), ('transport', attrs.get('transport')), ('config', attrs.get('config')),
        ('project', attrs.get('project')), ('command', posixpath.basename(command[0]) if command else None),
        ('credential_count', len(attrs.get('credentials') or attrs.get('credential_env') or ())),
        ('plaintext_credentials', attrs.get('plaintext_credentials'))]
    service['properties'] = _properties(pairs)
    return service


def served_models(server, artifacts):
    """bom-refs of the model files a server clearly serves: its model is their path, their
    directory, or the Hugging Face repository whose cache holds them. Anything less is no link."""
    model = server['attributes'].get('model')
    if not isinstance(model, str) or not model.strip():
        return []
    model = model.strip()
    refs = []
    for artifact in artifacts:
        path = artifact['attributes'].get('path') or ''
        if model.startswith('/'):
            wanted = posixpath.normpath(model)
            linked = path == wanted or path.startswith(wanted.rstrip('/') + '/')
        else:
            linked = bool(HF_REPO_ID.match(model)) and hf_repo_id(path) == model
        if linked:
            refs.append(artifact['id'])
    return sorted(refs)


def check_assets(assets):
    """Raise AigovError naming every asset that is not a usable asset record."""
    if not isinstance(assets, list):
        raise AigovError('assets must be a list of asset records (schemas/asset.v1.json), got %s' % type(assets).__name__)
    problems = []
    for index, asset in enumerate(assets):
        if not isinstance(asset, dict):
            problems.append('assets[%d] is not a mapping' % index)
            continue
        where = 'assets[%d] (id %s)' % (index, asset.get('id'))
        missing = [key for key in REQUIRED_KEYS if key not in asset]
        if missing:
            problems.append('%s: missing %s' % (where, ', '.join(missing)))
        elif asset['kind'] not in KINDS:
            problems.append('%s: unknown kind %r (known: %s)' % (where, asset['kind'], ', '.join(KINDS)))
        elif not isinstance(asset['attributes'], dict):
            problems.append('%s: attributes must be a mapping' % where)
    if problems:
        raise AigovError('cannot build the AI-BOM:\n  - %s' % '\n  - '.join(problems))


def _unique(assets):
    """One record per asset id (a host reached under two inventory names reports its assets twice)."""
    seen, kept = set(), []
    for asset in sorted(assets, key=lambda a: (a['id'], a.get('inventory_hostname') or '')):
        if asset['id'] not in seen:
            seen.add(asset['id'])
            kept.append(asset)
    return kept


def _host_components(assets):
    names, credentials = {}, {}
    for asset in assets:
        key = host_key(asset)
        names.setdefault(key, set()).add(asset['host'])
        credentials[key] = credentials.get(key, 0) + (asset['kind'] == 'credential')
    return [{'type': 'device', 'bom-ref': host_ref(key), 'name': key,
             'properties': _properties([('asset_kind', 'host'), ('credential_count', credentials[key])]
                                       + [('host', name) for name in names[key]])}
            for key in names]


def _metadata(tool_version, timestamp, scope):
    metadata = {
        'timestamp': timestamp,
        'lifecycles': [{'phase': 'operations'}],
        'tools': {'components': [{'type': 'application', 'name': TOOL_NAME, 'version': tool_version}]},
    }
    if scope:
        pairs = [('scope:host_scanned', host) for host in scope.get('hosts_scanned') or ()]
        pairs += [('scope:host_missing', host) for host in scope.get('hosts_missing') or ()]
        pairs.append(('scope:complete', not scope.get('hosts_missing')))
        metadata['properties'] = _properties(pairs)
    return metadata


BUILDERS = {'model_artifact': _model_component, 'ai_package': _library_component, 'gpu': _gpu_component,
            'model_server': _server_service, 'vector_db': _server_service, 'mcp_server': _mcp_service,
            'agent': _agent_service}


def build_bom(assets, tool_version, scope=None, serial_number=None, timestamp=None):
    """Build the CycloneDX 1.6 AI-BOM (a dict) of a list of asset records.

    scope is collect_assets()'s scope (hosts scanned and missing), recorded in the
    metadata. serial_number and timestamp default to a new urn:uuid and now (UTC);
    nothing else varies between two builds of the same assets.
    """
    check_assets(assets)
    assets = _unique(assets)
    components = _host_components(assets)
    services, dependencies = [], {}
    artifacts = {}
    for asset in assets:
        if asset['kind'] == 'model_artifact':
            artifacts.setdefault(host_key(asset), []).append(asset)
    for component in components:
        dependencies[component['bom-ref']] = []
    for asset in assets:
        if asset['kind'] not in BUILDERS:
            continue
        item = BUILDERS[asset['kind']](asset)
        (components if asset['kind'] in COMPONENT_KINDS else services).append(item)
        depends = [host_ref(host_key(asset))]
        if asset['kind'] == 'model_server':
            depends += served_models(asset, artifacts.get(host_key(asset), ()))
        dependencies[asset['id']] = sorted(set(depends))
    return {
        'bomFormat': 'CycloneDX',
        'specVersion': SPEC_VERSION,
        'serialNumber': serial_number or uuid.uuid4().urn,
        'version': 1,
        'metadata': _metadata(tool_version, timestamp or _now(), scope),
        'components': sorted(components, key=lambda item: item['bom-ref']),
        'services': sorted(services, key=lambda item: item['bom-ref']),
        'dependencies': [{'ref': ref, 'dependsOn': dependencies[ref]} for ref in sorted(dependencies)],
    }


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def content(bom):
    """The BOM without what differs between two builds of the same assets (serial number, timestamp)."""
    copy = json.loads(json.dumps(bom))
    copy.pop('serialNumber', None)
    if isinstance(copy.get('metadata'), dict):
        copy['metadata'].pop('timestamp', None)
    return copy


def same_content(old, new):
    """Whether an existing BOM (any parsed JSON, or None) says what a new one says."""
    return isinstance(old, dict) and content(old) == content(new)


def inventory_lines(bom):
    """One line per component and service (kind, bom-ref, name): the diff of two BOMs that matters."""
    lines = []
    for section, label in (('components', 'component'), ('services', 'service')):
        items = bom.get(section) if isinstance(bom, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                kind = ' ' + item['type'] if item.get('type') else ''
                lines.append('%s%s %s (%s)' % (label, kind, item.get('bom-ref'), item.get('name')))
    return ''.join(line + '\n' for line in sorted(lines))


def render_json(bom):
    return json.dumps(bom, indent=2) + '\n'

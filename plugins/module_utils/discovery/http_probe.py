# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The optional HTTP probe: ask a model server on this host what it serves.

Only read-only endpoints its signature names (GET /v1/models, /api/tags,
/api/version, /version, /info, /v2, ...), only on this host (loopback, or a
bound address that is one of this host's own), only from the server's own
network namespace, without any credential, with a short timeout and at most
MAX_REQUESTS requests per server. http.client is used directly: urllib would
honour *_proxy variables and send the request elsewhere.

The server is not trusted: the timeout is a deadline for the whole answer (a
server that drips a byte a second does not reset it), a run of the probe has a
total budget, an answer is read up to MAX_BODY and its JSON nesting is bounded.
"""

from __future__ import annotations

import http.client
import os
import socket
import time

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.host.procfs import is_loopback
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import redact_argv
from ansible_collections.aigov.core.plugins.module_utils.discovery.server_versions import clean_version

MAX_REQUESTS = 6
MAX_BODY = 256 * 1024
MAX_MODELS = 50
# Endpoints that list models: only their answer says whether authentication is required.
# Health and metrics endpoints are public on servers that do require a key for the API.
MODEL_LISTING = frozenset(('/v1/models', '/api/tags', '/models'))
AUTH_OBSERVED = ('required', 'not_required', 'unknown')


def same_network_namespace(proc_root, pid):
    """True when pid shares this process's network namespace (its 127.0.0.1 is ours)."""
    try:
        mine = os.stat(os.path.join(proc_root, 'self', 'ns', 'net'))
        theirs = os.stat(os.path.join(proc_root, str(pid), 'ns', 'net'))
    except (IOError, OSError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _is_local_address(address):
    """True when address is one of this host's own: only those can be bound (no packet is sent)."""
    sock = socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 0))
        return True
    except (IOError, OSError):
        return False
    finally:
        sock.close()


def connect_address(address):
    """Where to connect to reach a listener bound to address, or None when that is not this host."""
    if address.startswith('::ffff:'):
        address = address[7:]
    if address == '0.0.0.0':
        return '127.0.0.1'
    if address == '::':
        return '::1'
    if is_loopback(address) or _is_local_address(address):
        return address
    return None


class _DeadlineSocket(socket.socket):
    """A connected socket whose receives all end by one deadline (time.monotonic())."""

    deadline = 0.0

    def recv_into(self, buffer, nbytes=0, flags=0):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('timed out')
        self.settimeout(left)
        return super(_DeadlineSocket, self).recv_into(buffer, nbytes, flags)


def _get(address, port, path, deadline):
    """(status, body) of one GET without credentials, answered by DEADLINE; raises on network and protocol errors."""
    connection = http.client.HTTPConnection(address, port, timeout=max(deadline - time.monotonic(), 0.001))
    try:
        connection.connect()
        plain = connection.sock
        connection.sock = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
        connection.sock.deadline = deadline
        connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))  # for sending the request
        connection.request('GET', path, headers={'Accept': 'application/json', 'User-Agent': 'aigov-discovery'})
        response = connection.getresponse()
        return response.status, response.read(MAX_BODY)
    finally:
        connection.close()


def _json(body):
    try:
        return bounded_json.loads(body.decode('utf-8', 'replace'))
    except ValueError:
        return None


def _models(path, document):
    """Model names listed by a model-listing or info endpoint, or None."""
    if not isinstance(document, dict):
        return None
    if path == '/info':
        names = [document.get('model_id')]
    else:
        items = document.get('data') if path == '/v1/models' else document.get('models')
        if not isinstance(items, list):
            return None
        names = [item.get({'/v1/models': 'id', '/api/tags': 'name'}.get(path, 'modelName'))
                 for item in items if isinstance(item, dict)]
    names = [redact_argv([name[:200]])[0] for name in names if isinstance(name, str) and name]
    return names[:MAX_MODELS] if names else None


def _version(path, body):
    document = _json(body)
    if isinstance(document, dict):
        return clean_version(document.get('version') if isinstance(document.get('version'), str) else None)
    if path == '/version' and document is None:  # MLflow answers in plain text
        return clean_version(body[:64].decode('utf-8', 'replace'))
    return None


def _learn(result, path, status, body):
    """Fold one answer into the result: auth observed, models, version."""
    if path in MODEL_LISTING:
        if status == 200:
            result['auth_observed'] = 'not_required'
        elif status in (401, 403) and result['auth_observed'] != 'not_required':
            result['auth_observed'] = 'required'
    if status != 200:
        return
    models = _models(path, _json(body)) if path in MODEL_LISTING or path == '/info' else None
    if models and result['models'] is None:
        result['models'] = models
    version = _version(path, body) if path in ('/version', '/api/version', '/info', '/v2') else None
    if version and result['version'] is None:
        result['version'], result['version_source'] = version, 'http:%s' % path


def not_probed(reason):
    """The http attribute of a server that was not asked, and why."""
    return {'endpoint': None, 'responses': [], 'models': None, 'auth_observed': 'unknown', 'skipped': reason}


def probe(paths, listeners, timeout, deadline=None):
    """Ask the server's endpoints; return (result, problems). A failed request is a problem, never raised.

    timeout: seconds for each request's whole answer; deadline: time.monotonic() after which no
    request is sent or waited for (the run's budget). result holds endpoint (where an HTTP answer came
    from), responses ({port, path, status, error}), models, auth_observed, version and version_source.
    """
    deadline = float('inf') if deadline is None else deadline
    if not paths:
        return not_probed('no read-only endpoint known for this product'), []
    targets = [(connect_address(item['address']), item['port']) for item in listeners or []]
    targets = [(address, port) for address, port in targets if address is not None]
    if not targets:
        return not_probed('no listener on an address of this host'), []
    if time.monotonic() >= deadline:
        return not_probed('the HTTP probe budget of this run was spent'), []
    result, errors, sent = dict(not_probed(None), version=None, version_source=None), [], 0
    for address, port in targets:
        for path in paths:
            if sent >= MAX_REQUESTS:
                break
            sent += 1
            try:
                status, body = _get(address, port, path, min(time.monotonic() + timeout, deadline))
            except socket.timeout:
                error = 'timed out after %gs' % timeout
            except (IOError, OSError, http.client.HTTPException) as exc:
                error = getattr(exc, 'strerror', None) or exc.__class__.__name__
            else:
                result['responses'].append({'port': port, 'path': path, 'status': status, 'error': None})
                result['endpoint'] = 'http://%s:%d' % ('[%s]' % address if ':' in address else address, port)
                _learn(result, path, status, body)
                continue
            result['responses'].append({'port': port, 'path': path, 'status': None, 'error': error})
            errors.append('HTTP probe of %s port %d %s: %s' % (address, port, path, error))
            break  # this port does not speak HTTP in time: try the next listener
        if result['endpoint'] is not None:
            break  # one port that answers HTTP is the server's API
    return result, errors

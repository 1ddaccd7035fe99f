# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secret backend interface: what agent secret rotation needs from a secret store.

A backend keeps numbered versions of a secret at a path and writes a new
version only when the caller's expected current version still holds
(check-and-set). Adding a backend (AAP credentials, a cloud secret manager)
means one new file implementing SecretBackend; the rotation logic does not
change. Errors name the backend (its URL or directory) and the path, never a
credential or a secret value.
"""

from __future__ import annotations

import abc
import datetime
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

_PATH = re.compile(r'^[A-Za-z0-9_.@=+-]+(/[A-Za-z0-9_.@=+-]+)*$')


class SecretBackendError(AigovError):
    """A secret backend refused or failed a request; nothing was written by the failing call."""


class BackendUnreachable(SecretBackendError):
    """No answer from the backend (connection refused, DNS, TLS, timeout)."""


class BackendAuthError(SecretBackendError):
    """The backend refused the credentials or the request (HTTP 401/403, failed login)."""


class SecretNotFound(SecretBackendError):
    """No current version at the path (never written, or its current version deleted)."""


class CASConflict(SecretBackendError):
    """The secret changed since it was read: another writer won; this write was not made."""


class SecretVersion(object):
    """One version of a secret. repr() never shows the value, so tracebacks cannot leak it."""

    __slots__ = ('value', 'version', 'created_time')

    def __init__(self, value, version, created_time):
        self.value = value
        self.version = version
        self.created_time = created_time

    def __repr__(self):
        return '<SecretVersion version=%r created_time=%r>' % (self.version, self.created_time)


class SecretMetadata(object):
    """What a backend knows about a path without reading a value."""

    __slots__ = ('current_version', 'created_time', 'versions')

    def __init__(self, current_version, created_time, versions):
        self.current_version = current_version  # 0: nothing was ever written
        self.created_time = created_time        # of the current version
        self.versions = versions                # {version: created_time} still readable

    def __repr__(self):
        return '<SecretMetadata current_version=%r>' % self.current_version


def check_path(path):
    """path when it is relative and of plain segments (no '..', no leading '/'); else an error naming the rule."""
    if not isinstance(path, str) or not _PATH.match(path) or '..' in path.split('/') or '.' in path.split('/'):
        raise SecretBackendError("secret path %r is invalid: use segments of letters, digits and _.@=+- separated by '/'"
                                 % (path,))
    return path


def parse_time(text):
    """A backend timestamp (RFC 3339, maybe with nanoseconds and Z) as an aware datetime."""
    match = re.match(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$', text or '')
    if not match:
        raise SecretBackendError('unreadable timestamp from the backend: %r' % (text,))
    fraction = (match.group(2) or '.0')[1:7].ljust(6, '0')
    zone = '+00:00' if match.group(3) == 'Z' else match.group(3)
    return datetime.datetime.fromisoformat('%s.%s%s' % (match.group(1), fraction, zone))


def utc_now_text():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds').replace('+00:00', 'Z')


class SecretBackend(abc.ABC):
    """A versioned secret store. `description` names it in messages (URL or directory, never credentials)."""

    kind = None
    description = None

    @abc.abstractmethod
    def read(self, path, version=None):
        """The current version (or the given one) as SecretVersion; SecretNotFound when absent."""

    @abc.abstractmethod
    def read_metadata(self, path):
        """SecretMetadata of path; current_version 0 when nothing was ever written."""

    @abc.abstractmethod
    def write(self, path, value, expected_version):
        """Write value as a new version if the current version is expected_version (0: none yet).

        Returns the new version as a SecretVersion whose value is None;
        raises CASConflict when another writer got there first.
        """

    def list(self, path):
        """Sorted names directly under path, a folder ending in '/'; [] when there is nothing.

        Not abstract: a backend that cannot list raises SecretBackendError, and
        callers then need the names given (agent_secret_findings' agents).
        """
        raise SecretBackendError('%s: this backend cannot list secrets' % self.where(path))

    def where(self, path):
        """'<kind> backend <description>, path <path>' for messages."""
        return '%s backend %s, path %s' % (self.kind, self.description, path)

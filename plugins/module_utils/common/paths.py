# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection's files are: one rule for every module, role, playbook and the event source.

The rule (docs/architecture.md, "Paths"):

1. A shared file (the asset store, the audit log, the approvals queue) is the path given to its
   option; when none is given (unset or empty), the path in its environment variable when that is
   set and not empty; else its default. The approvals queue's default is C(approvals.jsonl) next to
   the audit log, so a queue follows the log wherever the log is.
2. C(~) and C($VARS) are expanded (as an Ansible C(type: path) option does).
3. A relative path is relative to the base directory: the current directory of the process on the
   controller (where ansible-playbook, ansible-rulebook or ansible-inventory runs; an AAP job's
   project directory). Never a playbook's directory: for the aigov.core.* playbooks that is inside
   the installed collection. Data files a user names (registry, policy packs, waivers, guardrails)
   follow the same rule; only an inventory source resolves the files it names from its own directory.
4. A location that is a PostgreSQL URL (C(postgresql://...), common/database.py) is a database, kept as
   given. When neither the option nor the store's own variable names a location, $AIGOV_DATABASE (one
   setting for every store that has a database backend: the asset store, the audit log and the approvals
   queue) comes before the default. The approvals queue's default follows the audit log: next to a file log,
   in the same database as a log in PostgreSQL.
"""

from __future__ import annotations

import collections
import os

from ansible_collections.aigov.core.plugins.module_utils.common import database

SharedFile = collections.namedtuple('SharedFile', 'what env default')

DATA_DIR = 'aigov-data'
ASSET_STORE = SharedFile('asset store', 'AIGOV_ASSET_STORE', DATA_DIR + '/assets.sqlite3')
AUDIT_LOG = SharedFile('audit log', 'AIGOV_AUDIT_LOG', DATA_DIR + '/audit.jsonl')
APPROVALS_QUEUE = SharedFile('approvals queue', 'AIGOV_APPROVALS_QUEUE', None)  # default: next to the audit log
APPROVALS_QUEUE_NAME = 'approvals.jsonl'
SHARED_FILES = (ASSET_STORE, AUDIT_LOG, APPROVALS_QUEUE)
IN_DATABASE = (ASSET_STORE, AUDIT_LOG, APPROVALS_QUEUE)  # the stores $AIGOV_DATABASE puts in PostgreSQL


def base_dir():
    """The directory relative paths are relative to: the controller process's current directory."""
    return os.getcwd()


def local_path(value, base=None):
    """VALUE as an absolute, normalized path: ~ and $VARS expanded, a relative one joined to BASE (base_dir())."""
    expanded = os.path.expanduser(os.path.expandvars(value))
    return os.path.normpath(os.path.join(base_dir() if base is None else base, expanded))


def resolve(shared, value=None, environ=None, base=None, audit_log=None):
    """The absolute path of a SHARED file: VALUE, else $ENV, else the default (rule above).

    ENVIRON: the environment to read (default os.environ). AUDIT_LOG: the audit log option given
    with it, for the approvals queue's default (resolved by the same rule).
    """
    environ = os.environ if environ is None else environ
    chosen = value or environ.get(shared.env) or (environ.get(database.ENV) if shared in IN_DATABASE else None) \
        or shared.default
    if chosen is None and shared is APPROVALS_QUEUE:
        log = resolve(AUDIT_LOG, audit_log, environ, base)
        if database.is_database(log):  # the queue lives in the log's database (alerts/approvals_postgres.py)
            return log
        return os.path.join(os.path.dirname(log), APPROVALS_QUEUE_NAME)
    if chosen is None:
        raise ValueError('no default for the %s' % shared.what)
    if database.is_database(chosen):
        return chosen
    return local_path(chosen, base)

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification of the audit log: names the first edited, deleted, inserted or reordered entry, and the first
decision or approval without a valid seal (decision_keys).

The state of a log: `broken` (a problem), `unanchored` (intact as far as it goes, but without an
anchor nothing shows that entries were cut from its end), `intact` (intact and holding the anchor).
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_log import (
    FIELDS, GENESIS_HASH, SCHEMA_VERSION, entry_hash, line_matches_hash, read_entries)
from ansible_collections.aigov.core.plugins.module_utils.audit.entries import sealed_kind
from ansible_collections.aigov.core.plugins.module_utils.common.database import display

KINDS = ('malformed', 'edited', 'deleted', 'inserted', 'reordered', 'anchor', 'seal')
STATES = ('intact', 'unanchored', 'broken')


def _well_formed(entry):
    return (entry is not None and set(entry) == set(FIELDS) and entry['schema_version'] == SCHEMA_VERSION
            and isinstance(entry['seq'], int) and not isinstance(entry['seq'], bool)
            and isinstance(entry['hash'], str) and isinstance(entry['prev_hash'], str))


def _continues(entry, seq, prev_hash):
    return _well_formed(entry) and entry['seq'] == seq and entry['prev_hash'] == prev_hash


def links(entry, seq, prev_hash, raw=None):
    """True when entry is the chain's next one: well formed, seq and prev_hash as expected, content matching its hash.

    raw: the line entry was parsed from, when the caller has it (hashing the line is quicker than re-encoding the entry).
    """
    if not _continues(entry, seq, prev_hash):
        return False
    return (raw is not None and line_matches_hash(raw, entry)) or entry_hash(entry) == entry['hash']


def _problem(kind, line, seq, message):
    return dict(kind=kind, line=line, seq=seq, message=message)


class Seals(object):
    """Checks the seal of each decision and approval entry of the chain, in order (keyring None: checks nothing).

    A log written before decisions were sealed starts with unsealed ones: a missing seal is a
    problem only after the first valid seal; a wrong seal, or one by an unknown key, always is.
    """

    def __init__(self, keyring):
        self.keyring, self.started, self.sealed, self.problem = keyring, False, 0, None

    def see(self, number, entry):
        if self.keyring is None or self.problem is not None or not sealed_kind(entry):
            return
        why = self.keyring.check(entry)
        if why is None:
            self.started, self.sealed = True, self.sealed + 1
        elif why != 'missing' or self.started:
            self.problem = _problem('seal', number, entry['seq'], 'line %d (seq %d), a %s entry, has no valid seal (%s): it '
                                    'was not written with the decision key' % (number, entry['seq'], entry['action'], why))


def state(ok, anchor):
    """One of STATES."""
    return 'broken' if not ok else 'intact' if anchor else 'unanchored'


def _classify(lines, index, seq, prev_hash, prev_line):
    """The problem at lines[index], which does not continue the chain (expected seq, prev_hash)."""
    number, entry = lines[index]
    following = lines[index + 1] if index + 1 < len(lines) else None
    later = [n for n, e in lines[index + 1:] if _well_formed(e) and e['seq'] == seq]
    if _well_formed(entry) and entry['seq'] > seq and later and entry_hash(entry) == entry['hash']:
        return _problem('reordered', number, entry['seq'], 'line %d holds seq %d where seq %d belongs; seq %d is at line %d'
                        % (number, entry['seq'], seq, seq, later[0]))
    # A line the chain skips over: the next line continues from the last good entry.
    if following is not None and _continues(following[1], seq, prev_hash) and entry_hash(following[1]) == following[1]['hash']:
        return _problem('inserted', number, entry.get('seq') if _well_formed(entry) else None,
                        'line %d is not part of the chain: line %d continues from seq %d' % (number, following[0], seq - 1))
    if not _well_formed(entry):
        return _problem('malformed', number, None,
                        'line %d is not an audit entry (unparseable JSON, or fields missing or extra)' % number)
    own = entry['seq']
    if entry_hash(entry) != entry['hash']:
        return _problem('edited', number, own, 'line %d (seq %d) was edited: its content does not match its hash' % (number, own))
    if own == seq and prev_line is None:
        return _problem('edited', number, own, 'line %d (seq 1) does not start the chain: its prev_hash is not the genesis hash'
                        % number)
    if own == seq:
        # Its own hash holds but it does not point at the entry before: that one was rewritten (hash recomputed).
        return _problem('edited', prev_line, seq - 1, 'line %d (seq %d) was rewritten: its hash is not the prev_hash '
                        'recorded by line %d (seq %d)' % (prev_line, seq - 1, number, own))
    if own > seq:
        missing = 'seq %d' % seq if own == seq + 1 else 'seq %d to %d' % (seq, own - 1)
        return _problem('deleted', number, own, '%s deleted: missing before line %d (seq %d)' % (missing, number, own))
    earlier = [n for n, e in lines[:index] if _well_formed(e) and e['seq'] == own]
    if earlier:
        return _problem('inserted', number, own, 'line %d repeats seq %d of line %d' % (number, own, earlier[0]))
    return _problem('reordered', number, own, 'line %d holds seq %d after seq %d' % (number, own, seq - 1))


def verify(path, anchor=None, keyring=None):
    """Check the chain of the log at path; return a result naming the first problem.

    anchor ({seq, hash}, e.g. from an earlier verify kept elsewhere) must be
    in the chain: it catches a rewritten tail and a truncated log; without one
    the state is at best `unanchored`. keyring (decision_keys.KeyRing): check the
    seals of decisions and approvals too (Seals).
    Result: {ok, state, path, entries, last_seq, last_hash, sealed (None without keyring),
    problem: None or {kind, line, seq, message}} with kind one of KINDS.
    """
    lines = read_entries(path)
    seq, prev_hash, prev_line = 1, GENESIS_HASH, None
    by_seq = {}
    problem = None
    seals = Seals(keyring)
    for index, (number, entry) in enumerate(lines):
        if links(entry, seq, prev_hash):
            seals.see(number, entry)
            by_seq[seq] = entry['hash']
            seq, prev_hash, prev_line = seq + 1, entry['hash'], number
            continue
        problem = _classify(lines, index, seq, prev_hash, prev_line)
        break
    if problem is None and anchor is not None:
        anchored = by_seq.get(anchor.get('seq'))
        if anchored is None:
            problem = _problem('anchor', None, anchor.get('seq'),
                               'anchor seq %s is not in the log (last seq %d): entries were deleted from the end'
                               % (anchor.get('seq'), seq - 1))
        elif anchored != anchor.get('hash'):
            problem = _problem('anchor', anchor['seq'], anchor['seq'],
                               'entry seq %d does not have the anchored hash: the log was rewritten up to it' % anchor['seq'])
    problem = problem or seals.problem
    return dict(ok=problem is None, state=state(problem is None, anchor), path=display(path), entries=len(lines),
                last_seq=seq - 1 if seq > 1 else None, last_hash=prev_hash if seq > 1 else None,
                sealed=seals.sealed if keyring is not None else None, problem=problem)

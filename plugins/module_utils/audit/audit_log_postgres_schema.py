# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tables and functions of the audit log in PostgreSQL (audit_log_postgres.py), by schema version.

common/database.py ensure_schema() applies them in order, once per database: version 1 is what the first
release created and stays as it was, so a database it made is migrated, never rebuilt.

Each entry arrives as the parts of its canonical JSON around the values only the head decides (audit_chain's
rule): a1 (up to `details`), a2 (`,"outcome":` ... `"prev_hash":"`), b (`","reasons":` ... `"seq":`), c (the
rest). Hashed: a1 a2 PREV b SEQ c; stored line: a1 ,"hash":"HASH" a2 PREV b SEQ c (sorted keys put `hash`
before `outcome`): byte for byte the file's line. The last entry is checked against the head first.

Version 2, group commit on the server. In version 1 every write locked the one head row for its statement and
commit, so 8 writers of one entry each took turns for a whole round trip each; and its durability barrier (an
empty transaction) never waited for the disk, as PostgreSQL flushes only a commit that wrote to the WAL. Now a
write is one CALL of aigov_audit_write, two transactions:
  1. its entries go into aigov_audit_pending as one row (one ticket), committed without waiting for the disk:
     writers do this in parallel, nothing is locked;
  2. aigov_audit_chain(ticket): whoever gets the chain lock (an advisory lock) chains EVERY pending write, in
     ticket order, deletes them from pending, inserts them and moves the head, then commits with the server's
     durability setting: with synchronous_commit on, that commit is on disk before anyone sees it (the lock is
     held until then, while the next writers' entries pile up for the next chaining). A writer whose ticket
     another writer chained meanwhile finds it in the log (by ticket) and returns, without a write of its own:
     one commit, one flush, for every writer whose entries were pending.
One write stays one row of pending, so its entries stay together in the chain. The head row is still locked
(FOR UPDATE) by the chaining writer, so a version 1 writer still running during an upgrade, or the import of a
file log, takes turns with it: aigov_audit_append is kept for that reason.
"""

from __future__ import annotations

COMPONENT, VERSION = 'audit_log', 2

# The last entry checked against the head: its line without its hash member hashes to the head's hash.
_TAIL_DAMAGED = ("last_line IS NULL OR encode(sha256(convert_to(replace(last_line, ',\"hash\":\"' || prev || '\"', ''), "
                 "'UTF8')), 'hex') <> prev")
_APPEND = (  # version 1: lock the head, chain this write's entries, insert them, move the head
    "CREATE FUNCTION aigov_audit_append(a1 text[], a2 text[], b text[], c text[], actions text[], "
    "OUT first_seq bigint, OUT first_prev text, OUT hashes text[]) LANGUAGE plpgsql AS $$ DECLARE "
    "head_seq bigint; prev text; last_line text; hashed text; digest text; BEGIN "
    "SELECT h.seq, h.hash INTO head_seq, prev FROM aigov_audit_head h WHERE h.id = 1 FOR UPDATE; "
    "IF head_seq > 0 THEN "
    "SELECT l.line INTO last_line FROM aigov_audit_log l WHERE l.seq = head_seq; "
    "IF last_line IS NULL OR encode(sha256(convert_to(replace(last_line, ',\"hash\":\"' || prev || '\"', ''), 'UTF8')), "
    "'hex') <> prev THEN RAISE EXCEPTION 'aigov audit tail damaged at seq %', head_seq USING ERRCODE = 'data_corrupted'; "
    "END IF; END IF; "
    "first_seq := head_seq + 1; first_prev := prev; hashes := ARRAY[]::text[]; "
    "FOR i IN 1 .. array_length(a1, 1) LOOP "
    "head_seq := head_seq + 1; "
    "hashed := a1[i] || a2[i] || prev || b[i] || head_seq::text || c[i]; "
    "digest := encode(sha256(convert_to(hashed, 'UTF8')), 'hex'); "
    "INSERT INTO aigov_audit_log (seq, prev_hash, hash, action, line) VALUES (head_seq, prev, digest, actions[i], "
    "a1[i] || ',\"hash\":\"' || digest || '\"' || a2[i] || prev || b[i] || head_seq::text || c[i]); "
    "prev := digest; hashes := hashes || digest; END LOOP; "
    "UPDATE aigov_audit_head SET seq = head_seq, hash = prev WHERE id = 1; END $$")

CHAIN_LOCK = 'aigov.audit.chain'
# What a write returns: its first seq, the prev_hash of its first entry, the hashes of its entries (from the log).
_FIND = ("SELECT min(l.seq), (array_agg(l.prev_hash ORDER BY l.seq))[1], array_agg(l.hash ORDER BY l.seq) "
         "INTO first_seq, first_prev, hashes FROM aigov_audit_log l WHERE l.ticket = t; ")
# The pending table holds a few rows but churns (a row per write, deleted when chained): read by its index, never
# by scanning the dead rows autovacuum has not removed yet (enable_seqscan off for this function).
# Waiting: a shared lock is granted to every waiter at once when the chaining writer commits; each then looks for
# its ticket. A bounded number of rounds, then a plain wait for the lock itself (never a livelock, never a spin).
# A damaged tail withdraws this write (its pending row deleted, `damaged` = the head's seq) and chains nothing;
# the others find the same when they get the lock.
_CHAIN = (
    "CREATE FUNCTION aigov_audit_chain(t bigint, OUT first_seq bigint, OUT first_prev text, OUT hashes text[], "
    "OUT damaged bigint) LANGUAGE plpgsql SET enable_seqscan = off AS $$ DECLARE "
    "k CONSTANT bigint := hashtextextended('" + CHAIN_LOCK + "', 0); held boolean := false; "
    "head_seq bigint; prev text; last_line text; digest text; p record; done bigint[] := '{}'; "
    "seqs bigint[] := '{}'; prevs text[] := '{}'; digests text[] := '{}'; acts text[] := '{}'; lines text[] := '{}'; "
    "tickets bigint[] := '{}'; mine integer; BEGIN "
    "held := pg_try_advisory_xact_lock(k); "
    "IF NOT held THEN FOR attempt IN 1 .. 8 LOOP "
    "PERFORM pg_advisory_lock_shared(k); PERFORM pg_advisory_unlock_shared(k); " + _FIND +
    "IF first_seq IS NOT NULL THEN RETURN; END IF; "
    "held := pg_try_advisory_xact_lock(k); EXIT WHEN held; END LOOP; END IF; "
    "IF NOT held THEN PERFORM pg_advisory_xact_lock(k); " + _FIND +
    "IF first_seq IS NOT NULL THEN RETURN; END IF; END IF; "
    "SELECT h.seq, h.hash INTO head_seq, prev FROM aigov_audit_head h WHERE h.id = 1 FOR UPDATE; "
    "IF head_seq > 0 THEN SELECT l.line INTO last_line FROM aigov_audit_log l WHERE l.seq = head_seq; "
    "IF " + _TAIL_DAMAGED + " THEN DELETE FROM aigov_audit_pending WHERE ticket = t; damaged := head_seq; RETURN; "
    "END IF; END IF; "
    "FOR p IN SELECT * FROM aigov_audit_pending ORDER BY ticket LOOP "
    "IF p.ticket = t THEN first_seq := head_seq + 1; first_prev := prev; mine := array_length(p.a1, 1); END IF; "
    "FOR i IN 1 .. coalesce(array_length(p.a1, 1), 0) LOOP "
    "head_seq := head_seq + 1; "
    "digest := encode(sha256(convert_to(p.a1[i] || p.a2[i] || prev || p.b[i] || head_seq::text || p.c[i], 'UTF8')), "
    "'hex'); "
    "lines := lines || (p.a1[i] || ',\"hash\":\"' || digest || '\"' || p.a2[i] || prev || p.b[i] || head_seq::text "
    "|| p.c[i]); "
    "seqs := seqs || head_seq; prevs := prevs || prev; digests := digests || digest; acts := acts || p.actions[i]; "
    "tickets := tickets || p.ticket; prev := digest; END LOOP; "
    "done := done || p.ticket; END LOOP; "
    "DELETE FROM aigov_audit_pending WHERE ticket = ANY (done); "
    "INSERT INTO aigov_audit_log (seq, prev_hash, hash, action, line, ticket) "
    "SELECT * FROM unnest(seqs, prevs, digests, acts, lines, tickets); "
    "UPDATE aigov_audit_head SET seq = head_seq, hash = prev WHERE id = 1; "
    "IF first_seq IS NOT NULL THEN hashes := digests[first_seq - seqs[1] + 1 : first_seq - seqs[1] + mine]; "
    "ELSE " + _FIND + "END IF; "  # chained by a writer before this one got the lock
    "IF first_seq IS NULL THEN RAISE EXCEPTION 'aigov audit write % is neither pending nor chained', t; END IF; "
    "END $$")
# A write: step 1 committed without waiting for the disk (this transaction only), then step 2 in a transaction of
# its own, committed when the CALL ends with the session's durability setting (the server's): one round trip.
_WRITE = (
    "CREATE PROCEDURE aigov_audit_write(a1 text[], a2 text[], b text[], c text[], actions text[], "
    "INOUT ticket bigint DEFAULT NULL, INOUT first_seq bigint DEFAULT NULL, INOUT first_prev text DEFAULT NULL, "
    "INOUT hashes text[] DEFAULT NULL, INOUT damaged bigint DEFAULT NULL) LANGUAGE plpgsql AS $$ BEGIN "
    "PERFORM set_config('synchronous_commit', 'off', true); "
    "INSERT INTO aigov_audit_pending (a1, a2, b, c, actions) VALUES (a1, a2, b, c, actions) "
    "RETURNING aigov_audit_pending.ticket INTO ticket; "
    "COMMIT; "
    "SELECT f.first_seq, f.first_prev, f.hashes, f.damaged INTO first_seq, first_prev, hashes, damaged "
    "FROM aigov_audit_chain(ticket) f; END $$")
# A write that failed after step 1 takes its pending row back (under the chain lock, so it is either chained or
# gone, never both): true when it was still pending.
_WITHDRAW = (
    "CREATE FUNCTION aigov_audit_withdraw(t bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN "
    "PERFORM pg_advisory_xact_lock(hashtextextended('" + CHAIN_LOCK + "', 0)); "
    "DELETE FROM aigov_audit_pending WHERE ticket = t; RETURN FOUND; END $$")

SCHEMA = {
    1: [
        'CREATE TABLE aigov_audit_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL)',
        "INSERT INTO aigov_audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64))",
        'CREATE TABLE aigov_audit_log (seq bigint PRIMARY KEY, prev_hash text NOT NULL UNIQUE, hash text NOT NULL UNIQUE, '
        'action text NOT NULL, line text NOT NULL)',
        "CREATE FUNCTION aigov_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'aigov audit log entries are append-only'; END $$",
        'CREATE TRIGGER aigov_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON aigov_audit_log '
        'FOR EACH STATEMENT EXECUTE FUNCTION aigov_audit_append_only()',
        # The head locked and the last entry's line in one round trip: the second statement runs after the lock is
        # held, with a snapshot of its own (read committed), so it sees the entry the writer before committed.
        "CREATE FUNCTION aigov_audit_lock_head(OUT seq bigint, OUT hash text, OUT line text) LANGUAGE plpgsql AS $$ "
        "BEGIN SELECT h.seq, h.hash INTO seq, hash FROM aigov_audit_head h WHERE h.id = 1 FOR UPDATE; "
        "SELECT l.line INTO line FROM aigov_audit_log l WHERE l.seq = aigov_audit_lock_head.seq; END $$",
        _APPEND,
    ],
    2: [
        'CREATE TABLE aigov_audit_pending (ticket bigserial PRIMARY KEY, a1 text[] NOT NULL, a2 text[] NOT NULL, '
        'b text[] NOT NULL, c text[] NOT NULL, actions text[] NOT NULL)',
        # which write an entry came from: NULL for entries written before version 2 and for imported ones
        'ALTER TABLE aigov_audit_log ADD COLUMN ticket bigint',
        'CREATE INDEX aigov_audit_log_ticket ON aigov_audit_log (ticket) WHERE ticket IS NOT NULL',
        _CHAIN,
        _WITHDRAW,
        _WRITE,
    ],
}
WRITE = 'CALL aigov_audit_write(%b, %b, %b, %b, %b, NULL, NULL, NULL, NULL, NULL)'  # binary: no text escaping
# The ticket of this session's last write that reached the pending table (currval: this session's own, whatever
# other sessions do), for a write that failed after that step.
LAST_TICKET = "SELECT currval('aigov_audit_pending_ticket_seq')"
WITHDRAW = 'SELECT aigov_audit_withdraw(%s)'

"""The audit log: concurrent appends keep one chain; every kind of tampering is detected and named."""

import json
import multiprocessing
import os
import random
import shutil
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_chain, audit_log, decision_keys, entries
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify
from ansible_collections.aigov.core.plugins.module_utils.common.redaction import URL_CREDENTIALS
from tests.contracts import validate

WRITERS, APPENDS = 8, 50


def _writer(path, writer):
    for number in range(APPENDS):
        audit_log.append(path, 'writer-%d' % writer, 'test.append', 'agent-%d' % writer, 'team-a', 'success',
                         reasons=['n=%d' % number], details=dict(writer=writer, number=number))


def _log(tmp_path, count=6):
    path = str(tmp_path / 'audit.jsonl')
    for number in range(count):
        audit_log.append(path, 'ops', 'agent_secret.rotate', 'agent-%d' % number, 'team-a', 'success',
                         reasons=['max_age'], details=dict(old_fingerprint='hmac-sha256:%016d' % number))
    return path


def _lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def _write(path, lines):
    with open(path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def _rehash(line):
    entry = json.loads(line)
    entry['hash'] = audit_log.entry_hash(entry)
    return audit_log.canonical(entry).decode()


def test_concurrent_writers_build_one_chain(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    context = multiprocessing.get_context('fork')
    workers = [context.Process(target=_writer, args=(path, n)) for n in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    result = verify(path)
    assert result['ok'], result['problem']
    assert result['entries'] == result['last_seq'] == WRITERS * APPENDS
    entries = [json.loads(line) for line in _lines(path)]
    assert sorted((e['details']['writer'], e['details']['number']) for e in entries) == \
        sorted((w, n) for w in range(WRITERS) for n in range(APPENDS))


def test_entries_follow_the_schema_and_chain(tmp_path):
    path = _log(tmp_path, 3)
    entries = [json.loads(line) for line in _lines(path)]
    for entry in entries:
        validate(entry, 'audit-entry.v1.json')
        assert entry['hash'] == audit_log.entry_hash(entry)
    assert entries[0]['prev_hash'] == audit_log.GENESIS_HASH and entries[0]['seq'] == 1
    assert [e['prev_hash'] for e in entries[1:]] == [e['hash'] for e in entries[:-1]]
    assert verify(path) == dict(ok=True, state='unanchored', path=path, entries=3, last_seq=3, last_hash=entries[-1]['hash'],
                                sealed=None, problem=None)


def test_append_is_durable_and_returns_the_entry(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(audit_log.os, 'fsync', lambda fd: (synced.append(fd), real_fsync(fd)))
    path = str(tmp_path / 'sub' / 'audit.jsonl')
    entry = audit_log.append(path, 'ops', 'x', 'agent', None, 'refused', reasons=['locked'])
    assert synced, 'append returned without fsync'
    assert json.loads(_lines(path)[0]) == entry and entry['owner'] is None


def test_secret_shaped_details_are_refused(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    with pytest.raises(audit_log.AuditLogError, match=r'details\.new\.value looks like a secret') as info:
        audit_log.append(path, 'ops', 'x', 'agent', 'o', 'success', details=dict(new=dict(value='sk-abcdefghijklmnop')))
    assert 'sk-abcdefghijklmnop' not in str(info.value)
    with pytest.raises(audit_log.AuditLogError, match='reasons'):
        audit_log.append(path, 'ops', 'x', 'agent', 'o', 'success', reasons=['see https://u:pw@host/'])
    assert not os.path.exists(path) or _lines(path) == []


def test_bad_outcome_and_damaged_tail_are_refused(tmp_path):
    path = _log(tmp_path, 2)
    with pytest.raises(audit_log.AuditLogError, match='outcome'):
        audit_log.append(path, 'ops', 'x', 'a', 'o', 'done')
    with open(path, 'a') as handle:
        handle.write('{"seq": 3, "trunc')
    with pytest.raises(audit_log.AuditLogError, match='ends with a damaged line'):
        audit_log.append(path, 'ops', 'x', 'a', 'o', 'success')
    with pytest.raises(audit_log.AuditLogError, match='damaged'):
        audit_log.check_appendable(path)
    assert len(_lines(path)) == 3


def _edit(lines):
    entry = json.loads(lines[2])
    entry['outcome'] = 'failure'
    lines[2] = audit_log.canonical(entry).decode()
    return lines


def _edit_rehashed(lines):
    entry = json.loads(lines[2])
    entry['owner'] = 'someone-else'
    lines[2] = _rehash(audit_log.canonical(entry).decode())
    return lines


def _insert_forged(lines):
    forged = json.loads(lines[2])
    forged['subject'] = 'forged'
    lines.insert(3, _rehash(audit_log.canonical(forged).decode()))
    return lines


TAMPERS = [
    # (name, change to the list of lines, kind, line, seq, words in the message)
    ('edited', _edit, 'edited', 3, 3, 'line 3 (seq 3) was edited'),
    ('edited and rehashed', _edit_rehashed, 'edited', 3, 3, 'line 3 (seq 3) was rewritten'),
    ('deleted', lambda l: l[:3] + l[4:], 'deleted', 4, 5, 'seq 4 deleted: missing before line 4'),
    ('two deleted', lambda l: l[:1] + l[3:], 'deleted', 2, 4, 'seq 2 to 3 deleted'),
    ('first deleted', lambda l: l[1:], 'deleted', 1, 2, 'seq 1 deleted'),
    ('inserted copy', lambda l: l[:3] + [l[1]] + l[3:], 'inserted', 4, 2, 'line 4 is not part of the chain'),
    ('inserted forgery', _insert_forged, 'inserted', 4, 3, 'line 4 is not part of the chain: line 5 continues from seq 3'),
    ('inserted garbage', lambda l: l[:2] + ['not json'] + l[2:], 'inserted', 3, None, 'line 3 is not part of the chain'),
    ('swapped', lambda l: l[:2] + [l[3], l[2]] + l[4:], 'reordered', 3, 4, 'line 3 holds seq 4 where seq 3 belongs; seq 3 is at line 4'),
    ('moved to end', lambda l: l[:1] + l[2:] + [l[1]], 'reordered', 2, 3, 'seq 2 is at line 6'),
    ('truncated line', lambda l: l[:5] + [l[5][:40]], 'malformed', 6, None, 'line 6 is not an audit entry'),
]


@pytest.mark.parametrize('name,change,kind,line,seq,words', TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampering_is_detected_and_named(tmp_path, name, change, kind, line, seq, words):
    path = _log(tmp_path)
    _write(path, change(_lines(path)))
    result = verify(path)
    assert not result['ok']
    assert (result['problem']['kind'], result['problem']['line'], result['problem']['seq']) == (kind, line, seq), result
    assert words in result['problem']['message']


def test_anchor_catches_truncation_and_rewritten_history(tmp_path):
    path = _log(tmp_path)
    good = verify(path)
    anchor = dict(seq=good['last_seq'], hash=good['last_hash'])
    assert verify(path, anchor)['ok']
    lines = _lines(path)
    _write(path, lines[:-1])
    result = verify(path, anchor)
    assert result['problem']['kind'] == 'anchor' and 'deleted from the end' in result['problem']['message']
    # Rewrite the whole chain from seq 1 with consistent hashes: only the anchor shows it.
    entries = [json.loads(line) for line in lines]
    entries[0]['actor'] = 'mallory'
    prev = audit_log.GENESIS_HASH
    for entry in entries:
        entry['prev_hash'] = prev
        entry['hash'] = prev = audit_log.entry_hash(entry)
    _write(path, [audit_log.canonical(e).decode() for e in entries])
    assert verify(path)['ok']
    result = verify(path, anchor)
    assert result['problem'] == dict(kind='anchor', line=6, seq=6, message=result['problem']['message'])
    assert 'rewritten' in result['problem']['message']


def test_missing_log_is_an_error(tmp_path):
    with pytest.raises(audit_log.AuditLogError, match='cannot read audit log .*missing'):
        verify(str(tmp_path / 'missing'))


def test_append_many_chains_in_one_write_and_refuses_all_or_nothing(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    audit_log.append(path, 'alice', 'x.first', 's', 'o', 'success')
    record = dict(actor='src', action='decision', subject='a', owner='o', outcome='planned', reasons=['r'])
    entries = audit_log.append_many(path, [record, dict(record, subject='b')])
    assert [e['seq'] for e in entries] == [2, 3] and entries[1]['prev_hash'] == entries[0]['hash']
    before = open(path).read()
    with pytest.raises(audit_log.AuditLogError, match='looks like a secret'):
        audit_log.append_many(path, [record, dict(record, details={'k': 'sk-aigovTEST-9f2c4e7a1b3d5f60'})])
    assert open(path).read() == before and audit_log.append_many(path, []) == []
    assert verify(path)['ok'] and verify(path)['last_seq'] == 3


@pytest.mark.parametrize('chunk', [1, 7, 64, 65536])
def test_newest_first_reads_every_entry_backwards_whatever_the_chunk(tmp_path, chunk):
    path = _log(tmp_path, count=9)
    with open(path, 'ab') as handle:
        handle.write(b'{damaged\n')
    backwards = list(audit_log.iter_newest_first(path, chunk=chunk))
    assert backwards[0] is None and [entry['seq'] for entry in backwards[1:]] == list(range(9, 0, -1))
    assert backwards[1:] == [entry for _n, entry in reversed(audit_log.read_entries(path)[:-1])]


def test_newest_first_of_a_log_not_yet_written_is_empty(tmp_path):
    assert list(audit_log.iter_newest_first(str(tmp_path / 'none.jsonl'))) == []


def test_the_line_fast_path_agrees_with_the_hash_rule(tmp_path):
    path = _log(tmp_path, count=3)
    lines = list(audit_log.iter_lines(path))
    assert all(audit_log.line_matches_hash(raw, entry) for _n, raw, entry in lines)
    _n, raw, entry = lines[1]
    edited = raw.replace(b'agent-1', b'agent-X')
    assert not audit_log.line_matches_hash(edited, json.loads(edited))
    # the same entry written another way (spaces): the fast path declines, the rule itself still holds
    spaced = json.dumps(entry).encode('utf-8') + b'\n'
    assert not audit_log.line_matches_hash(spaced, entry) and audit_log.entry_hash(json.loads(spaced)) == entry['hash']
    assert verify_links(spaced, entry)


def verify_links(raw, entry):
    from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import links
    return links(json.loads(raw), entry['seq'], entry['prev_hash'], raw)


KEYS = ('actor', 'action', 'subject', 'owner', 'outcome', 'reasons', 'details')
GOLDEN = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'fixtures', 'audit', 'written-before-fast-path.jsonl')


def test_a_log_written_before_the_fast_path_verifies_and_is_rewritten_byte_for_byte(tmp_path):
    """The fixture was written by the writer of commit 08ffdf6 (one json.dumps per hash and per line): the hash
    definition is unchanged, so it verifies, and the same records appended now give the same bytes."""
    assert verify(GOLDEN)['ok'] and verify(GOLDEN)['entries'] == 4
    old = [json.loads(line) for line in _lines(GOLDEN)]
    path = str(tmp_path / 'audit.jsonl')
    writer = audit_log.Writer(path)
    for group in (old[:1], old[1:3], old[3:]):
        writer.append_many([dict(now=entry['time'], **dict((key, entry[key]) for key in KEYS)) for entry in group])
    writer.close()
    assert open(path, 'rb').read() == open(GOLDEN, 'rb').read()
    for entry in old:
        assert audit_log.canonical(entry) == json.dumps(entry, sort_keys=True, separators=(',', ':'),
                                                        ensure_ascii=False).encode('utf-8')


RECORD = dict(actor='src', action='decision', subject='a', owner='o', outcome='planned', reasons=['r'], details={'n': 1})


def test_a_long_lived_writer_chains_after_other_writers_and_after_rotation(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    writer = audit_log.Writer(path)
    writer.append_many([RECORD, RECORD])
    audit_log.append(path, 'someone-else', 'x', 's', 'o', 'success')  # the writer's memory of the tail is stale now
    assert [e['seq'] for e in writer.append_many([RECORD])] == [4]
    assert verify(path)['ok'] and verify(path)['last_seq'] == 4
    os.rename(path, path + '.1')  # rotated: the writer starts the new file, not the old one
    assert [e['seq'] for e in writer.append_many([RECORD])] == [1]
    assert verify(path)['ok'] and verify(path + '.1')['last_seq'] == 4
    writer.close()


def test_a_long_lived_writer_refuses_a_tail_damaged_since_its_last_append(tmp_path):
    path = str(tmp_path / 'audit.jsonl')
    writer = audit_log.Writer(path)
    writer.append_many([RECORD, RECORD])
    lines = _lines(path)
    entry = json.loads(lines[-1])
    entry['details']['n'] = 2  # same length, new content: only the file's times tell it changed
    lines[-1] = audit_log.canonical(entry).decode()
    _write(path, lines)
    with pytest.raises(audit_log.AuditLogError, match='does not match its hash'):
        writer.append_many([RECORD])
    assert _lines(path) == lines
    writer.close()


def test_each_line_is_the_canonical_json_of_its_entry_whatever_the_details_hold(tmp_path):
    """The hash is spliced into the one serialization of an entry: members named like the ones around it, in
    details or in the text of reasons, must not move it."""
    path = str(tmp_path / 'audit.jsonl')
    tricky = {'outcome': 'x,"outcome":y', 'z': {'a': 1, 'outcome': {'hash': ',"outcome":'}}, 'list': [{'outcome': 1}]}
    audit_log.append_many(path, [dict(RECORD, details=tricky, reasons=['",\\"outcome\\":', ',"outcome":'], owner=None),
                                 dict(RECORD, now='2026-11-25T10:00:00+00:00', subject=',"outcome":')])
    for line in _lines(path):
        entry = json.loads(line)
        assert line.encode('utf-8') == audit_log.canonical(entry) and entry['hash'] == audit_log.entry_hash(entry)
    assert verify(path)['ok']


BEFORE_SEALS = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'fixtures', 'audit', 'written-before-seals.jsonl')
RING = decision_keys.parse('k2:%s\nk1:%s' % ('n' * 32, 'o' * 32), 'test keys')


def sealed_decision(ring, fingerprint='fp9'):
    return ring.seal(dict(actor=entries.SOURCE_ACTOR, action='decision', subject='model_server:1', owner='lab-team',
                          outcome='planned', reasons=['why'], details={'fingerprint': fingerprint, 'decision': 'automate'}))


def test_a_log_written_before_seals_verifies_unanchored_and_sealed_entries_after_it_are_checked(tmp_path):
    """The fixture was written by the audit log of commit 0644690 (decisions and approvals without seals): it verifies,
    with and without decision keys (a missing seal is accepted until the first sealed entry), and says it is unanchored."""
    plain = verify(BEFORE_SEALS)
    assert (plain['ok'], plain['state'], plain['entries'], plain['sealed']) == (True, 'unanchored', 7, None)
    anchor = dict(seq=plain['last_seq'], hash=plain['last_hash'])
    assert verify(BEFORE_SEALS, anchor)['state'] == 'intact'
    assert (verify(BEFORE_SEALS, anchor, RING)['state'], verify(BEFORE_SEALS, anchor, RING)['sealed']) == ('intact', 0)
    path = str(tmp_path / 'audit.jsonl')
    shutil.copy(BEFORE_SEALS, path)
    old_key = decision_keys.parse('k1:%s' % ('o' * 32), 'before the rotation')
    audit_log.append(path, **sealed_decision(old_key))  # sealed by k1 before the rotation to k2: still listed
    audit_log.append(path, **sealed_decision(RING))
    assert verify(path, keyring=RING)['ok'] and verify(path, keyring=RING)['sealed'] == 2
    retired = decision_keys.parse('k2:%s' % ('n' * 32), 'k1 retired')
    assert verify(path, keyring=retired)['problem']['message'].endswith(
        'has no valid seal (unknown key k1): it was not written with the decision key')
    forged = sealed_decision(RING)
    forged['details'].pop('seal')
    audit_log.append(path, **forged)  # appended by hand after sealing began: the chain holds, the seal does not
    checked = verify(path, keyring=RING)
    assert (checked['ok'], checked['state'], checked['problem']['kind'], checked['problem']['seq']) == (False, 'broken', 'seal', 10)
    assert verify(path)['ok']  # the chain alone cannot tell


def test_the_secret_check_finds_what_the_url_regex_finds():
    """The linear check agrees with redaction.URL_CREDENTIALS.search on a spread of hand-made and random texts."""
    rng = random.Random(7)
    alphabet = 'a1:/@ .-+x\u00e9'
    texts = ['https://u:p@h', 'x https://user:pw@host/p', 'https://user@host', '1://u:p@h', 'a1://u:p@h', 'ftp://:p@h',
             'https://u:p/x@h', 'a://b://u:p@h', 'http://u:p @h', 'mailto:u@h', 'a+b.c-d://u:p@h']
    texts += [''.join(rng.choice(alphabet) for _n in range(rng.randint(0, 24))) for _n in range(20000)]
    for text in texts:
        assert bool(audit_chain.url_credentials(text)) == bool(URL_CREDENTIALS.search(text)), text


def _seconds(function, text):
    # CPU time of this process, not wall time: other processes on a loaded machine do not count.
    started = time.process_time()
    function(text)
    return time.process_time() - started


WORST = [
    'a' * 1048575 + '@',                      # a run of scheme characters rescanned from every start
    'a://' + ':' * 1048570 + '@',             # one userinfo run
    ('a://b:c' * 149796)[:1048575] + '@',     # many schemes, each with a userinfo
    '1://b:c@' * 131072,                      # many candidates, each without a scheme
    'sk-' + 'a' * 1048572 + '!',              # a provider-key prefix with a non-key end
    'eyJ' + 'a' * 524284 + '.' + 'b' * 524284 + '!',
    ('1' * 1000 + '://') * 1040 + 'x:y@',     # long digit runs before each '://'
]


@pytest.mark.parametrize('worst', WORST)
def test_the_secret_check_of_a_1_mb_value_is_linear(worst):
    """The audit log's secret check (recordable(): the check, and the digest when it is secret-shaped) of 1 MB of the
    worst inputs stays far below a second: a linear check takes at most 0.05 s of CPU here, and the quadratic one
    before this fix took 0.2 s at 20 KB, so minutes at 1 MB. A bound 40 times the linear cost, not a ratio of two small
    timings: CPU time of this process, best of 3, so that a busy machine cannot fail it and a quadratic check cannot
    pass it."""
    spent = min(_seconds(audit_log.recordable, worst) for _n in range(3))
    assert spent < 2.0, spent

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Just enough DER (and PEM) to read public keys, signatures and X.509 certificates.

The hosts have Python's standard library and nothing more (no `cryptography`), and
the bytes read here come from signature files a user may have written: every
length is checked against what is left, nothing is recursed into without a
depth, and a malformed input is one ValueError.
"""

from __future__ import annotations

import base64
import binascii
import re

SEQUENCE, SET, INTEGER, BIT_STRING, OCTET_STRING, OID, BOOLEAN = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0x01
_PEM = re.compile(r'-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----', re.S)


class Node(object):
    """One TLV: tag, the whole encoding (raw) and the content bytes."""

    __slots__ = ('tag', 'raw', 'content')

    def __init__(self, tag, raw, content):
        self.tag, self.raw, self.content = tag, raw, content

    def children(self):
        return list(parse_all(self.content))


def parse_one(data, pos=0):
    """(Node, next position) of the TLV at POS; ValueError when it does not fit in DATA."""
    if pos + 2 > len(data):
        raise ValueError('DER: truncated header')
    tag, length = data[pos], data[pos + 1]
    if tag & 0x1f == 0x1f:
        raise ValueError('DER: multi-byte tags are not used by these structures')
    start = pos + 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError('DER: bad length encoding')
        length = int.from_bytes(data[start:start + count], 'big')
        start += count
    end = start + length
    if end > len(data):
        raise ValueError('DER: content runs past the end')
    return Node(tag, bytes(data[pos:end]), bytes(data[start:end])), end


def parse_all(data):
    pos = 0
    while pos < len(data):
        node, pos = parse_one(data, pos)
        yield node


def parse(data, tag=None):
    """The single TLV that is all of DATA (of TAG when given)."""
    node, end = parse_one(data)
    if end != len(data):
        raise ValueError('DER: trailing bytes')
    return expect(node, tag)


def expect(node, tag):
    if tag is not None and node.tag != tag:
        raise ValueError('DER: expected tag 0x%02x, found 0x%02x' % (tag, node.tag))
    return node


def integer(node):
    return int.from_bytes(expect(node, INTEGER).content, 'big', signed=True)


def oid(node):
    """Dotted text of an OBJECT IDENTIFIER."""
    content = expect(node, OID).content
    if not content:
        raise ValueError('DER: empty OID')
    parts, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7f)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return '.'.join(str(part) for part in [first, parts[0] - 40 * first] + parts[1:])


def bit_string(node):
    content = expect(node, BIT_STRING).content
    if not content or content[0] > 7:
        raise ValueError('DER: bad BIT STRING')
    return content[1:], content[0]


def pem_blocks(text, label):
    """The DER bytes of every PEM block of LABEL ('CERTIFICATE', 'PUBLIC KEY') in TEXT."""
    if isinstance(text, bytes):
        text = text.decode('ascii', 'replace')
    blocks = []
    for found, body in _PEM.findall(text):
        if found == label:
            try:
                blocks.append(base64.b64decode(re.sub(r'\s+', '', body), validate=True))
            except (binascii.Error, ValueError):
                raise ValueError('PEM %s block is not valid base64' % label)
    return blocks


def to_pem(der, label):
    """PEM text as `cryptography` writes it (64-column lines): what a key hint is computed over."""
    body = base64.b64encode(der).decode('ascii')
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '-----BEGIN %s-----\n%s\n-----END %s-----\n' % (label, '\n'.join(lines), label)

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that decides what looks like a secret and removes it.

Command lines of AI processes carry API keys (`--api-key sk-...`), tokens in
URLs and `NAME=value` pairs. Everything the collection reports about a process
passes through redact_argv() first, so a value is dropped before it is stored
anywhere, not masked on the way out.
"""

from __future__ import annotations

import re

REDACTED = '<redacted>'

# A flag or variable name that names a secret: --api-key, --hf-token,
# OPENAI_API_KEY, --password, --master_key, ...
# `--tokenizer` and `--max-num-batched-tokens` are not secrets.
SECRET_NAME = re.compile(r'(key|token(?!iz|s\b|s[-_])|secret|passw(or)?d|credential|auth)', re.IGNORECASE)

# Values that are secrets whatever flag precedes them (provider key formats).
SECRET_VALUE = re.compile(
    r'^(sk-[A-Za-z0-9_-]{8,}|sk-ant-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|gsk_[A-Za-z0-9]{8,}'
    r'|AIza[0-9A-Za-z_-]{20,}|xox[abprs]-[A-Za-z0-9-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}'
    r'|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*)$'
)

# user:password@ in a URL. Every pattern here runs on what users and senders control and must
# take linear time: the scheme is bounded (32 characters, the end of a longer one still matches),
# so a 128 KiB argv[0] of letters costs 32 steps per position, not a scan to its end.
URL_CREDENTIALS = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^/:@\s]*):[^/@\s]*@')


def is_secret_name(name):
    """True when a flag or variable name names a secret value."""
    return bool(SECRET_NAME.search(name.lstrip('-')))


def redact_value(value):
    """Redact a free-standing token: provider-format keys and URL passwords."""
    if SECRET_VALUE.match(value):
        return REDACTED
    return URL_CREDENTIALS.sub(r'\g<scheme>\g<user>:' + REDACTED + '@', value)


def redact_argv(argv):
    """Return a copy of argv with every secret value replaced by REDACTED.

    `--api-key VALUE`, `--api-key=VALUE`, `NAME_TOKEN=VALUE` and bare
    provider-format keys are all caught. The token after a secret-named flag
    is redacted unless it is itself a long option, which over-redacts a
    boolean flag's positional neighbour: safe side.
    """
    result = []
    redact_next = False
    for token in argv:
        if redact_next and not token.startswith('--'):
            result.append(REDACTED)
            redact_next = False
            continue
        redact_next = False
        name, sep, value = token.partition('=')
        if sep and is_secret_name(name):
            result.append(name + '=' + REDACTED)
        elif sep and name.startswith('-'):
            result.append(name + '=' + redact_value(value))
        elif token.startswith('-') and is_secret_name(token):
            result.append(token)
            redact_next = True
        else:
            result.append(redact_value(token))
    return result


_ASSIGNMENT = re.compile(r'''\b([A-Za-z_][A-Za-z0-9_]*)=("[^"\n]*"|'[^'\n]*'|[^\s"']*)''')


def redact_text(text):
    """Redact a configuration text (env file, unit file) line by line, keeping its layout.

    `NAME=value` with a secret-looking NAME (also inside `Environment="..."`),
    secret-named flags and their values, and provider-format keys are replaced;
    used for every diff of a file that may hold secrets.
    """
    def assignment(match):
        if match.group(1).endswith('_FILE') and match.group(2).strip('"\'').startswith('/'):
            return match.group(0)  # a reference to a secret file, not a secret
        if is_secret_name(match.group(1)):
            return match.group(1) + '=' + REDACTED
        value = match.group(2)
        if len(value) >= 2 and value[0] in '"\'':  # Environment="NAME=value ..."
            return match.group(1) + '=' + value[0] + _ASSIGNMENT.sub(assignment, value[1:-1]) + value[-1]
        return match.group(0)

    lines = []
    for line in text.splitlines(True):
        line = _ASSIGNMENT.sub(assignment, line)
        parts = re.split(r'(\s+)', line)
        words = redact_argv([part.strip('"\'') if part.strip('"\'') != part else part for part in parts[::2]])
        for index, word in enumerate(words):
            if word == REDACTED and parts[index * 2] != REDACTED:
                parts[index * 2] = REDACTED
        lines.append(''.join(parts))
    return ''.join(lines)

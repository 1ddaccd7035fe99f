# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fingerprints of secrets: the only form in which a secret leaves a probe."""

from __future__ import annotations

import hashlib
import hmac

# Public default: fingerprints stay comparable across hosts. Set your own key to keep them site-specific.
DEFAULT_FINGERPRINT_KEY = 'aigov.core/credential-fingerprint/v1'


def fingerprint_key(options):
    """The HMAC key from the module options, or the public default."""
    return options.get('fingerprint_key') or DEFAULT_FINGERPRINT_KEY


def fingerprint(value, key):
    """`hmac-sha256:` and the first 16 hex digits of HMAC-SHA256(key, value)."""
    mac = hmac.new(key.encode('utf-8'), value.encode('utf-8'), hashlib.sha256).hexdigest()
    return 'hmac-sha256:' + mac[:16]

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recognise model files by their content and describe them.

Formats: GGUF, safetensors, ONNX, PyTorch (zip archive or legacy pickle),
raw pickle/joblib, Keras (.keras zip) and HDF5. Extensions only break ties
(ONNX has no magic number, protocol 0/1 pickles have no header).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile

from ansible_collections.aigov.core.plugins.module_utils.discovery.pickle_scan import scan_pickle

HDF5_MAGIC = b'\x89HDF\r\n\x1a\n'
PICKLE_EXTENSIONS = ('.pkl', '.pickle', '.joblib', '.pt', '.pth', '.bin', '.ckpt')
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the format's own limit
PICKLE_FORMATS = ('pytorch_zip', 'pytorch_legacy', 'pickle')


def _zip_format(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipfile, OSError, ValueError):
        return None
    if any(name.endswith('.pkl') for name in names):
        return 'pytorch_zip'
    if 'config.json' in names and any(name.endswith('.weights.h5') for name in names):
        return 'keras'
    return None


def detect_format(path, head):
    """Return the model format of a file from its first 16 bytes (and its name), or None."""
    extension = os.path.splitext(path)[1].lower()
    if head[:4] == b'GGUF':
        return 'gguf'
    if head[:8] == HDF5_MAGIC:
        return 'hdf5'
    if head[:4] == b'PK\x03\x04':
        return _zip_format(path)
    if len(head) >= 9 and head[8:9] == b'{' and 2 <= struct.unpack('<Q', head[:8])[0] <= MAX_SAFETENSORS_HEADER:
        return 'safetensors'
    if head[:1] == b'\x80' and head[1:2] in (b'\x02', b'\x03', b'\x04', b'\x05'):
        # Legacy torch.save starts with a pickled 10-byte magic number (LONG1 of 10 bytes).
        return 'pytorch_legacy' if head[2:4] == b'\x8a\x0a' else 'pickle'
    if extension == '.onnx' and head[:1] == b'\x08':  # ModelProto field 1 (ir_version), varint
        return 'onnx'
    if extension in ('.pkl', '.pickle', '.joblib') and head[:1] in (b'(', b'c', b']', b'}', b'I'):
        return 'pickle'  # protocol 0/1
    return None


def _gguf_details(handle):
    handle.seek(4)
    version, tensors, metadata = struct.unpack('<IQQ', handle.read(20))
    return {'gguf_version': version, 'tensor_count': tensors, 'metadata_count': metadata}


def _safetensors_details(handle):
    handle.seek(0)
    length = struct.unpack('<Q', handle.read(8))[0]
    header = json.loads(handle.read(length).decode('utf-8'))
    metadata = header.pop('__metadata__', None) or {}
    return {'tensor_count': len(header), 'metadata': dict((k, str(v)[:200]) for k, v in sorted(metadata.items())[:20])}


def _pickle_report(path, fmt):
    if fmt == 'pytorch_zip':
        imports, dangerous, errors = set(), set(), []
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith('.pkl'):
                    with archive.open(name) as member:
                        found = scan_pickle(member)
                    imports.update(found['imports'])
                    dangerous.update(found['dangerous'])
                    if found['error']:
                        errors.append('%s: %s' % (name, found['error']))
        return {'imports': sorted(imports), 'dangerous': sorted(dangerous), 'error': '; '.join(errors) or None}
    with open(path, 'rb') as handle:
        return scan_pickle(handle)


def describe(path, fmt):
    """Format-specific details and, for pickle-based formats, the pickle scan.

    Returns (details, pickle_report or None). Raises OSError/ValueError when
    the file is unreadable or malformed: the caller reports it as a problem.
    """
    details = {}
    with open(path, 'rb') as handle:
        if fmt == 'gguf':
            details = _gguf_details(handle)
        elif fmt == 'safetensors':
            details = _safetensors_details(handle)
    report = _pickle_report(path, fmt) if fmt in PICKLE_FORMATS else None
    return details, report

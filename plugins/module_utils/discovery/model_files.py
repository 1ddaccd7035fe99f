# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recognise model files by their content and describe them.

Formats: GGUF, safetensors, ONNX, PyTorch (zip archive or legacy pickle),
raw pickle/joblib, Keras (.keras zip) and HDF5. Extensions only break ties
(ONNX has no magic number, protocol 0/1 pickles have no header).

The files belong to whoever wrote them: every file is opened non-blocking as a
regular file (safe_files), every header is checked for length and type, JSON
nesting is bounded, and a zip archive's declared entry count and member sizes
are checked before zipfile reads them; the pickle scan caps what it decompresses.
"""

from __future__ import annotations

import os
import struct
import zipfile

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.discovery.pickle_scan import MAX_BYTES, scan_pickle
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import open_regular

HDF5_MAGIC = b'\x89HDF\r\n\x1a\n'
PICKLE_EXTENSIONS = ('.pkl', '.pickle', '.joblib', '.pt', '.pth', '.bin', '.ckpt')
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the format's own limit
MAX_HEADER_PARSED = 16 * 1024 * 1024  # larger safetensors headers are reported, not parsed
PICKLE_FORMATS = ('pytorch_zip', 'pytorch_legacy', 'pickle')
MAX_ZIP_ENTRIES = 100000
MAX_PICKLE_MEMBERS = 16
_END = struct.Struct('<4s6xHI4xH')  # end of central directory: signature, entries, directory size, comment length
_END64_LOCATOR = struct.Struct('<4s4xQ4x')
_END64 = struct.Struct('<4s28xQQ')


def zip_entries(handle):
    """The entry count a zip archive declares in its end records (zip64 included); ValueError if none.

    Read before zipfile parses the central directory, whose every entry costs memory.
    """
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - _END.size - 0xFFFF)
    handle.seek(start)
    tail = handle.read()
    at = tail.rfind(b'PK\x05\x06')
    if at < 0 or len(tail) < at + _END.size:
        raise ValueError('no zip end record')
    entries = _END.unpack_from(tail, at)[1]
    if entries != 0xFFFF:
        return entries
    locator = at - _END64_LOCATOR.size
    if locator < 0 or _END64_LOCATOR.unpack_from(tail, locator)[0] != b'PK\x06\x07':
        raise ValueError('zip64 end record locator missing')
    handle.seek(_END64_LOCATOR.unpack_from(tail, locator)[1])
    record = handle.read(_END64.size)
    if len(record) < _END64.size or record[:4] != b'PK\x06\x06':
        raise ValueError('zip64 end record missing')
    return _END64.unpack(record)[1]


def _open_zip(handle):
    """A ZipFile over HANDLE once its declared entry count is within MAX_ZIP_ENTRIES; ValueError otherwise."""
    entries = zip_entries(handle)
    if entries > MAX_ZIP_ENTRIES:
        raise ValueError('zip archive declares %d entries, more than %d' % (entries, MAX_ZIP_ENTRIES))
    try:
        return zipfile.ZipFile(handle)
    except zipfile.BadZipfile as exc:
        raise ValueError('bad zip archive (%s)' % exc) from None


def _zip_format(path):
    try:
        with open_regular(path, follow=False) as handle, _open_zip(handle) as archive:
            names = archive.namelist()
    except (OSError, ValueError):
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


def _read_exactly(handle, size, what):
    data = handle.read(size)
    if len(data) < size:
        raise ValueError('truncated %s: %d of %d bytes' % (what, len(data), size))
    return data


def _gguf_details(handle):
    handle.seek(4)
    version, tensors, metadata = struct.unpack('<IQQ', _read_exactly(handle, 20, 'GGUF header'))
    return {'gguf_version': version, 'tensor_count': tensors, 'metadata_count': metadata}


def _safetensors_details(handle):
    handle.seek(0)
    length = struct.unpack('<Q', _read_exactly(handle, 8, 'safetensors header length'))[0]
    if length > MAX_HEADER_PARSED:
        raise ValueError('safetensors header of %d bytes, more than the %d parsed' % (length, MAX_HEADER_PARSED))
    header = bounded_json.loads(_read_exactly(handle, length, 'safetensors header'))
    if not isinstance(header, dict):
        raise ValueError('safetensors header is not a JSON object')
    metadata = header.pop('__metadata__', None) or {}
    if not isinstance(metadata, dict):
        raise ValueError('safetensors __metadata__ is not a JSON object')
    return {'tensor_count': len(header), 'metadata': dict((k, str(v)[:200]) for k, v in sorted(metadata.items())[:20])}


def _zip_pickle_report(handle):
    """The pickle scan of the .pkl members of a PyTorch zip, each within the scan's byte cap."""
    imports, dangerous, errors = set(), set(), []
    with _open_zip(handle) as archive:
        members = [info for info in archive.infolist() if info.filename.endswith('.pkl')]
        if len(members) > MAX_PICKLE_MEMBERS:
            errors.append('%d pickles in the archive, only the first %d scanned' % (len(members), MAX_PICKLE_MEMBERS))
        for info in members[:MAX_PICKLE_MEMBERS]:
            if info.file_size > MAX_BYTES:
                errors.append('%s: declares %d bytes, more than the %d scanned' % (info.filename, info.file_size, MAX_BYTES))
                continue
            try:
                with archive.open(info) as member:
                    found = scan_pickle(member)  # reads at most MAX_BYTES, whatever the member declared
            except (zipfile.BadZipfile, RuntimeError, NotImplementedError) as exc:  # encrypted, unknown compression
                errors.append('%s: %s' % (info.filename, exc))
                continue
            imports.update(found['imports'])
            dangerous.update(found['dangerous'])
            if found['error']:
                errors.append('%s: %s' % (info.filename, found['error']))
    return {'imports': sorted(imports), 'dangerous': sorted(dangerous), 'error': '; '.join(errors) or None}


def describe(path, fmt):
    """Format-specific details and, for pickle-based formats, the pickle scan.

    Returns (details, pickle_report or None). Raises OSError/ValueError when
    the file is unreadable or malformed: the caller reports it as a problem.
    """
    details, report = {}, None
    with open_regular(path, follow=False) as handle:
        if fmt == 'gguf':
            details = _gguf_details(handle)
        elif fmt == 'safetensors':
            details = _safetensors_details(handle)
        elif fmt == 'pytorch_zip':
            report = _zip_pickle_report(handle)
        elif fmt in PICKLE_FORMATS:
            report = scan_pickle(handle)
    return details, report

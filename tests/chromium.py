"""Headless Chromium (Debian's `chromium`, hack/system-deps.sh) to look at an HTML page as a
person does: the DOM after rendering, and a screenshot read back with zlib alone."""

import shutil
import struct
import subprocess
import zlib


def chromium(tmp_path, *args):
    """Run headless Chromium (flags from /work/shared/ENVIRONMENT.md) with a profile under TMP_PATH."""
    binary = shutil.which('chromium')
    assert binary, 'chromium is not installed: run hack/system-deps.sh'
    return subprocess.run([binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                           '--disable-component-update', '--disable-sync', '--no-first-run',
                           '--user-data-dir=%s' % (tmp_path / 'chromium-profile')] + list(args),
                          capture_output=True, timeout=180, check=False)


def _png_parts(data):
    """(width, height, bit depth, channels, decompressed scanlines) of a non-interlaced PNG."""
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    offset, idat, width, height, bit_depth, colour = 8, b'', 0, 0, 0, 0
    while offset < len(data):
        length, kind = struct.unpack('>I4s', data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b'IHDR':
            width, height, bit_depth, colour = struct.unpack('>IIBB', body[:10])
        elif kind == b'IDAT':
            idat += body
        offset += 12 + length
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    assert len(raw) == (1 + width * channels * bit_depth // 8) * height
    return width, height, bit_depth, channels, raw


def png_info(data):
    """(width, height, distinct scanlines) of a PNG.

    Scanlines are compared as stored (filter byte + filtered bytes): a blank
    page's rows are all alike, a rendered report's are not.
    """
    width, height, bit_depth, channels, raw = _png_parts(data)
    stride = 1 + width * channels * bit_depth // 8
    return width, height, len(set(raw[row * stride:(row + 1) * stride] for row in range(height)))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def png_rows(data, rows):
    """The first ROWS rows of an 8-bit RGB or RGBA PNG as lists of (r, g, b), filters undone (PNG spec 9.2)."""
    width, height, bit_depth, channels, raw = _png_parts(data)
    assert bit_depth == 8 and channels in (3, 4), 'only 8-bit RGB(A) screenshots are read'
    stride = width * channels
    previous, pixels = bytearray(stride), []
    for row in range(min(rows, height)):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            line[i] = (line[i] + (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]) & 0xFF
        pixels.append([tuple(line[i:i + 3]) for i in range(0, stride, channels)])
        previous = line
    return pixels

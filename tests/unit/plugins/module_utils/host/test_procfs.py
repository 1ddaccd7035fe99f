"""procfs readers against /proc-format text and a fake /proc tree."""

import os
import socket

import pytest

from ansible_collections.aigov.core.plugins.module_utils.host import procfs

# Lines in the format of the kernel's /proc/net/tcp and tcp6 (trailing timer columns cut).
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002
   2: 0100007F:1F40 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 1003 1
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002
   2: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2003
"""


def test_parse_tcp_table_ipv4_only_listeners():
    assert procfs.parse_tcp_table(TCP, socket.AF_INET) == {1001: ('0.0.0.0', 8000), 1002: ('127.0.0.1', 8080)}


def test_parse_tcp_table_ipv6():
    assert procfs.parse_tcp_table(TCP6, socket.AF_INET6) == {
        2001: ('::', 8001), 2002: ('::1', 8081), 2003: ('::ffff:127.0.0.1', 8082)}


@pytest.mark.parametrize('address, loopback', [
    ('127.0.0.1', True), ('127.1.2.3', True), ('::1', True), ('::ffff:127.0.0.1', True),
    ('0.0.0.0', False), ('::', False), ('10.88.0.2', False), ('::ffff:10.0.0.1', False),
])
def test_is_loopback(address, loopback):
    assert procfs.is_loopback(address) is loopback


def test_real_proc_sees_this_test_listening():
    """The readers work on the real /proc of this machine (read-only)."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    try:
        pid = os.getpid()
        port = server.getsockname()[1]
        inodes = procfs.socket_inodes('/proc', pid)
        table = procfs.listening_sockets('/proc', pid)
        assert ('127.0.0.1', port) in [table[i] for i in inodes if i in table]
        assert procfs.read_process('/proc', pid).argv
    finally:
        server.close()


def test_read_process_of_vanished_pid_is_none(tmp_path):
    assert procfs.read_process(str(tmp_path), 4242) is None


def test_read_environ_keeps_only_allowed_values(tmp_path):
    pid_dir = tmp_path / '7'
    pid_dir.mkdir()
    (pid_dir / 'environ').write_bytes(b'OPENAI_API_KEY=sk-secretvalue123\0MODEL_NAME=llama\0EMPTY=\0junk\0')
    names, values = procfs.read_environ(str(tmp_path), 7, frozenset(['MODEL_NAME']))
    assert names == {'OPENAI_API_KEY', 'MODEL_NAME', 'EMPTY'}
    assert values == {'MODEL_NAME': 'llama'}

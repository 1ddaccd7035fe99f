"""Local TCP ports for the tests' own servers (event sources, OpenBao, fake agents)."""

import socket


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]

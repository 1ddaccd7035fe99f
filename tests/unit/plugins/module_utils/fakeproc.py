"""Build a fake /proc tree in a temp dir (a unit test may fake this boundary)."""

import os

TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'


def _hex_v4(address, port):
    octets = [int(part) for part in address.split('.')]
    return '%02X%02X%02X%02X:%04X' % (octets[3], octets[2], octets[1], octets[0], port)


class FakeProc(object):
    """A /proc with processes, their fds, environments and one network namespace."""

    def __init__(self, root):
        self.root = str(root)
        self.listeners = []  # (inode, address, port)
        os.makedirs(os.path.join(self.root, 'self', 'ns'), exist_ok=True)
        if not os.path.lexists(os.path.join(self.root, 'self', 'ns', 'net')):
            os.symlink('/proc/self/ns/net', os.path.join(self.root, 'self', 'ns', 'net'))

    def add(self, pid, argv, ppid=1, uid=0, env=None, sockets=(), readable=True, exe=None, root='/', netns='/proc/self/ns/net',
            start_time=None, cgroup='0::/user.slice/user-0.slice/session-1.scope\n'):
        """A process; root and netns are where its root and network-namespace links point (ours by default).

        start_time: field 22 of its stat (default 1000 + pid); cgroup: its /proc/<pid>/cgroup text."""
        base = os.path.join(self.root, str(pid))
        os.makedirs(os.path.join(base, 'fd'))
        os.makedirs(os.path.join(base, 'net'))
        os.makedirs(os.path.join(base, 'ns'))
        os.symlink(root, os.path.join(base, 'root'))
        os.symlink(netns, os.path.join(base, 'ns', 'net'))
        if exe:
            os.symlink(exe, os.path.join(base, 'exe'))
        with open(os.path.join(base, 'cmdline'), 'wb') as handle:
            handle.write(b'\0'.join(arg.encode() for arg in argv) + b'\0')
        with open(os.path.join(base, 'status'), 'w') as handle:
            handle.write('Name:\tx\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\n' % (ppid, uid, uid, uid, uid))
        with open(os.path.join(base, 'stat'), 'w') as handle:
            handle.write('%d (x y) S %d 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n'
                         % (pid, ppid, 1000 + pid if start_time is None else start_time))
        with open(os.path.join(base, 'cgroup'), 'w') as handle:
            handle.write(cgroup)
        if env is not None:
            with open(os.path.join(base, 'environ'), 'wb') as handle:
                handle.write(b''.join(('%s=%s' % item).encode() + b'\0' for item in env.items()))
        for fd, (inode, address, port) in enumerate(sockets, start=3):
            os.symlink('socket:[%d]' % inode, os.path.join(base, 'fd', str(fd)))
            self.listeners.append((inode, address, port))
        os.symlink('/dev/null', os.path.join(base, 'fd', '0'))
        self._write_net()
        return base

    def _write_net(self):
        rows = ''.join('%4d: %s 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0 100 0 0 10 0\n'
                       % (index, _hex_v4(address, port), inode)
                       for index, (inode, address, port) in enumerate(self.listeners))
        for name in os.listdir(self.root):
            if name.isdigit():
                with open(os.path.join(self.root, name, 'net', 'tcp'), 'w') as handle:
                    handle.write(TCP_HEADER + rows)

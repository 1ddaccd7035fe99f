"""A real PostgreSQL 15 server for the tests: an unprivileged cluster in a temp directory on a free port.

Debian's `postgresql` package (hack/system-deps.sh) ships the server; initdb refuses to run as
root, so as root the cluster is created and run as the `postgres` user (runuser), in a directory
that user owns. The Unix socket lives in the cluster directory, TCP listens on 127.0.0.1 only.
The server is started and stopped by the test session (no systemd); restart() is for fault tests.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

from tests.ports import free_port

USER = 'aigov'  # the cluster's superuser (trust authentication on 127.0.0.1 and the socket)
PASSWORD = 'pg-aigovTEST-5e1d'  # set on USER so the tests can check a password never leaks


def bin_dir():
    """The PostgreSQL server binaries (the newest installed major version); a clear error when missing."""
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(p.split('/')[4]))
    if not found:
        raise RuntimeError('PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): '
                           'run hack/system-deps.sh (Debian package postgresql)')
    return os.path.dirname(found[-1])


class Cluster(object):
    """One PostgreSQL cluster: start(), stop(), restart(), dsn(); run as `postgres` when we are root."""

    def __init__(self, base=None):
        self.bin = bin_dir()
        self.root = tempfile.mkdtemp(prefix='aigov-pg-', dir=base or '/tmp')
        self.data = os.path.join(self.root, 'data')
        self.port = free_port()
        self._as = []
        if os.geteuid() == 0:
            account = pwd.getpwnam('postgres')
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chmod(self.root, 0o755)  # the tests (root) read the socket directory
            self._as = ['runuser', '-u', 'postgres', '--']

    def _run(self, tool, *args, timeout=120):
        proc = subprocess.run(self._as + [os.path.join(self.bin, tool)] + list(args), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError('%s failed (%d): %s%s' % (tool, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def init(self):
        pwfile = os.path.join(self.root, 'pw')
        with open(pwfile, 'w') as handle:
            handle.write(PASSWORD + '\n')
        if self._as:
            account = pwd.getpwnam('postgres')
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        os.chmod(pwfile, 0o600)
        # scram on TCP (the backends log in with a password, as in a deployment); trust on the local socket
        self._run('initdb', '-D', self.data, '-U', USER, '--pwfile', pwfile, '--auth-local', 'trust',
                  '--auth-host', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C.UTF-8')
        os.unlink(pwfile)
        return self

    def start(self):
        options = '-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on' % (self.port, self.root)
        self._run('pg_ctl', '-D', self.data, '-o', options, '-l', os.path.join(self.root, 'log'), '-w', '-t', '60',
                  'start')
        return self

    def stop(self, mode='fast'):
        self._run('pg_ctl', '-D', self.data, '-m', mode, '-w', '-t', '60', 'stop')

    def restart(self, pause=0.0):
        """Stop (fast: connections are cut, open transactions roll back), wait PAUSE seconds, start again."""
        self.stop()
        time.sleep(pause)
        self.start()

    def running(self):
        return subprocess.run(self._as + [os.path.join(self.bin, 'pg_ctl'), '-D', self.data, 'status'],
                              capture_output=True, check=False).returncode == 0

    def create_database(self, name):
        """A new empty database NAME (a plain identifier) owned by USER."""
        self.psql('postgres', 'CREATE DATABASE "%s"' % name)
        return self.dsn(name)

    def psql(self, database, sql):
        proc = subprocess.run(self._as + [os.path.join(self.bin, 'psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                                          '-h', self.root, '-p', str(self.port), '-U', USER, '-d', database, '-c', sql],
                              capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError('psql failed: %s' % proc.stderr)
        return proc.stdout

    def dsn(self, database='postgres'):
        """A URL without the password (the backends get it from PGPASSWORD, as docs/fleet-scale.md says)."""
        return 'postgresql://%s@127.0.0.1:%d/%s' % (USER, self.port, database)

    def env(self):
        """The libpq environment a client needs besides the DSN: the password."""
        return {'PGPASSWORD': PASSWORD}

    def destroy(self):
        try:
            if self.running():
                self.stop('immediate')
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

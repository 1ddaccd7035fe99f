"""Real Debian test hosts, reached over real SSH, run as podman containers.

No registry can be reached from these machines, so the image is built locally with
debootstrap from Debian's mirror and cached under a tag derived from its contents.
Each host is a container on podman's bridge network running sshd as PID 1; tests and
molecule reach it with a generated ed25519 key, exactly like a remote machine.

Usable as a library (``from tests.hosts import testhosts``) or as a CLI::

    python tests/hosts/testhosts.py image
    python tests/hosts/testhosts.py up --count 2 --prefix demo --workdir /tmp/demo [--inventory INV]
    python tests/hosts/testhosts.py down --prefix demo

Standard library only, so it runs before any project dependency is installed.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

SUITE = "bookworm"
# The packages baked into the image; the image tag is derived from this list.
PACKAGES = ("python3", "openssh-server", "procps", "iproute2")
# Bump when the way the image is built changes, so cached images are rebuilt.
IMAGE_FORMAT = 1
IMAGE_NAME = "localhost/aigov-testhost"
LABEL = "aigov.testhosts"

# crun fails on these machines (hybrid cgroups) and the default ulimits make
# setrlimit fail, so every podman call uses this file instead of editing /etc.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'

# IdentitiesOnly: keys from a user's ssh-agent would otherwise be offered first and
# can exhaust sshd's MaxAuthTries before the generated key is tried.
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR")
ANSIBLE_SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"

# Installs the key with the modes sshd's StrictModes demands, then execs sshd so
# that it is PID 1 and SIGTERM stops the container (a shell as PID 1 ignores it).
SSHD_SCRIPT = (
    'umask 077 && mkdir -p /root/.ssh /run/sshd'
    ' && printf "%s\\n" "$AIGOV_AUTHORIZED_KEY" > /root/.ssh/authorized_keys'
    ' && ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e'
)

PODMAN_TIMEOUT = 120
DEBOOTSTRAP_TIMEOUT = 900
IMPORT_TIMEOUT = 300
READY_TIMEOUT = 30
SSH_PROBE_TIMEOUT = 10


class HostError(RuntimeError):
    """A test host could not be built, started, reached or removed."""


@dataclasses.dataclass(frozen=True)
class Host:
    """One running test host, in the terms SSH and molecule need."""

    name: str
    address: str
    identity_file: str
    user: str = "root"
    port: int = 22

    def instance_config(self) -> dict:
        """Return this host as one entry of molecule's instance config."""
        return {"instance": self.name, "address": self.address, "user": self.user, "port": self.port, "identity_file": self.identity_file}


# --- podman -----------------------------------------------------------------


def cache_dir() -> Path:
    """Return (and create) the directory holding the build lock, logs and containers.conf."""
    path = Path(os.environ.get("AIGOV_TESTHOSTS_CACHE") or Path.home() / ".cache" / "aigov-testhosts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _containers_conf() -> Path:
    # Lives in the cache dir rather than a per-run workdir because image builds
    # and stop_hosts() have no workdir; written atomically for concurrent callers.
    path = cache_dir() / "containers.conf"
    if not path.exists() or path.read_text(encoding="utf-8") != CONTAINERS_CONF:
        tmp = path.with_name(f".containers.conf.{os.getpid()}")
        tmp.write_text(CONTAINERS_CONF, encoding="utf-8")
        os.replace(tmp, path)
    return path


def _podman_env() -> dict:
    return {**os.environ, "CONTAINERS_CONF": str(_containers_conf())}


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def podman(args: Sequence[str], timeout: float = PODMAN_TIMEOUT, check: bool = True, runtime: bool = False) -> subprocess.CompletedProcess:
    """Run ``podman ARGS`` with the project containers.conf; raise HostError on failure when check.

    RUNTIME also names runc on the command line, belt and braces for ``podman run``.
    """
    argv = ["podman", *(["--runtime", "runc"] if runtime else []), *args]
    try:
        result = subprocess.run(argv, env=_podman_env(), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise HostError(f"podman {args[0]} timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        raise HostError(f"podman {' '.join(args[:2])} failed (exit {result.returncode}): {_one_line(result.stderr)}")
    return result


# --- image ------------------------------------------------------------------


def image_ref() -> str:
    """Return the image reference for the current package list, suite and build format."""
    key = json.dumps({"format": IMAGE_FORMAT, "suite": SUITE, "packages": sorted(PACKAGES)}, sort_keys=True)
    return f"{IMAGE_NAME}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _image_exists(ref: str) -> bool:
    return podman(["image", "exists", ref], check=False).returncode == 0


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    # Polls instead of blocking so that a stuck peer cannot hang us forever;
    # closing the file releases the lock.
    with open(path, "w", encoding="utf-8") as handle:
        if not _try_lock(handle):
            print(f"testhosts: waiting for {path} (another build is running)", file=sys.stderr, flush=True)
            deadline = time.monotonic() + timeout
            while not _try_lock(handle):
                if time.monotonic() > deadline:
                    raise HostError(f"timed out after {timeout} s waiting for the lock {path}")
                time.sleep(0.5)
        yield


def _remove_tree(path: Path) -> None:
    # A killed debootstrap can leave proc/sys (or bind-mounted devices) mounted in
    # the rootfs; unmount them first so rmtree never reaches into the host.
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        points = [fields[4] for fields in (line.split() for line in mounts) if fields[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=60, check=False)
    shutil.rmtree(path, ignore_errors=True)


def _run_logged(argv: Sequence[str], log: Path, timeout: float) -> None:
    # Own session so that a timeout or Ctrl-C kills debootstrap's whole process
    # tree (chroot, dpkg), not just the script, before its rootfs is deleted.
    with open(log, "ab") as out, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True) as proc:
        try:
            code = proc.wait(timeout=timeout)
        except BaseException as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise HostError(f"{argv[0]} timed out after {timeout} s; see {log}") from exc
            raise
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        raise HostError(f"{argv[0]} failed (exit {code}); see {log}: {_one_line(chr(10).join(tail))}")


def _import_rootfs(rootfs: Path, ref: str, log: Path) -> None:
    # Streams the tarball: writing it to a file would need another 280 MB of disk.
    with open(log, "ab") as errors, subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, stderr=errors) as tar:
        try:
            result = subprocess.run(["podman", "import", "-", ref], stdin=tar.stdout, env=_podman_env(),
                                    capture_output=True, text=True, timeout=IMPORT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            tar.kill()
            raise HostError(f"podman import timed out after {IMPORT_TIMEOUT} s") from exc
    if tar.returncode != 0:
        raise HostError(f"tar of {rootfs} failed (exit {tar.returncode}); see {log}")
    if result.returncode != 0:
        raise HostError(f"podman import failed (exit {result.returncode}): {_one_line(result.stderr)}")


def _build_image(ref: str, cache: Path) -> None:
    for stale in cache.glob("build-*"):  # left by a killed build; we hold the lock
        _remove_tree(stale)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=cache))
    log = cache / "build.log"
    log.write_text("", encoding="utf-8")
    try:
        started = time.monotonic()
        print(f"testhosts: building {ref} with debootstrap {SUITE} (about 70 s, log: {log})", file=sys.stderr, flush=True)
        rootfs = build / "rootfs"
        _run_logged(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs)], log, DEBOOTSTRAP_TIMEOUT)
        print(f"testhosts: debootstrap done in {time.monotonic() - started:.0f} s, importing", file=sys.stderr, flush=True)
        _import_rootfs(rootfs, ref, log)
        print(f"testhosts: built {ref} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        _remove_tree(build)


def ensure_image() -> str:
    """Return the test host image reference, building and caching it first if podman lacks it."""
    ref = image_ref()
    if _image_exists(ref):
        return ref
    cache = cache_dir()
    with _file_lock(cache / "build.lock", timeout=DEBOOTSTRAP_TIMEOUT + IMPORT_TIMEOUT):
        if not _image_exists(ref):  # another caller may have built it while we waited
            _build_image(ref, cache)
    return ref


# --- hosts ------------------------------------------------------------------


def _ensure_key(workdir: Path) -> Path:
    key = workdir / "id_ed25519"
    if not key.exists():
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aigov-testhosts", "-f", str(key)],
                           capture_output=True, text=True, timeout=30, check=True)
        except subprocess.CalledProcessError as exc:
            raise HostError(f"ssh-keygen failed (exit {exc.returncode}): {_one_line(exc.stderr)}") from exc
    return key


def _container_address(name: str) -> str:
    info = json.loads(podman(["container", "inspect", name]).stdout)[0]
    settings = info.get("NetworkSettings") or {}
    addresses = [net.get("IPAddress") for net in (settings.get("Networks") or {}).values()] + [settings.get("IPAddress")]
    address = next((addr for addr in addresses if addr), None)
    if not address:
        raise HostError(f"container {name} has no IP address (is it on a bridge network?)")
    return address


def _start_container(image: str, name: str, prefix: str, public_key: str) -> None:
    podman([
        "run", "--detach", "--name", name, "--hostname", name,
        "--label", f"{LABEL}={prefix}", "--env", f"AIGOV_AUTHORIZED_KEY={public_key}",
        image, "sh", "-c", SSHD_SCRIPT,
    ], runtime=True)


def _ssh_ready(host: Host, timeout: float) -> bool:
    argv = ["ssh", "-i", host.identity_file, *SSH_OPTIONS, "-o", f"ConnectTimeout={max(1, int(timeout))}",
            "-p", str(host.port), f"{host.user}@{host.address}", "true"]
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait_ready(host: Host, deadline: float) -> None:
    try:
        wait_for_tcp(host.address, host.port, deadline - time.monotonic())
        while not _ssh_ready(host, min(SSH_PROBE_TIMEOUT, max(1.0, deadline - time.monotonic()))):
            if time.monotonic() > deadline:
                raise HostError(f"{host.name} ({host.address}) accepts TCP but not SSH")
            time.sleep(0.3)
    except HostError as exc:
        logs = podman(["logs", "--tail", "5", host.name], check=False)
        raise HostError(f"{exc}; container log: {_one_line(logs.stdout + logs.stderr)}") from exc


def start_hosts(count: int, prefix: str, workdir: str | os.PathLike) -> list[Host]:
    """Start COUNT hosts named PREFIX-1..PREFIX-COUNT and return them once each accepts SSH.

    Leftover containers with the same prefix are removed first; on any failure every
    container started here is removed again and HostError is raised.
    """
    if count < 1:
        raise HostError(f"count must be at least 1, not {count}")
    workdir = Path(workdir).absolute()  # the key path must work from any cwd (molecule, ansible)
    workdir.mkdir(parents=True, exist_ok=True)
    key = _ensure_key(workdir)
    public_key = key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    image = ensure_image()
    stop_hosts(prefix)
    started = time.monotonic()
    try:
        names = [f"{prefix}-{index}" for index in range(1, count + 1)]
        for name in names:
            _start_container(image, name, prefix, public_key)
        hosts = [Host(name=name, address=_container_address(name), identity_file=str(key)) for name in names]
        deadline = time.monotonic() + READY_TIMEOUT
        for host in hosts:
            _wait_ready(host, deadline)
    except BaseException:
        stop_hosts(prefix)
        raise
    print(f"testhosts: {count} host(s) '{prefix}' ready in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return hosts


def stop_hosts(prefix: str) -> list[str]:
    """Remove every container labelled with PREFIX without a stop grace period; return their ids (empty when none)."""
    ids = podman(["ps", "--all", "--quiet", "--filter", f"label={LABEL}={prefix}"]).stdout.split()
    if ids:
        podman(["rm", "--force", "--ignore", "--time", "0", *ids])
    return ids


@contextlib.contextmanager
def test_hosts(count: int, prefix: str, workdir: str | os.PathLike) -> Iterator[list[Host]]:
    """Yield COUNT started hosts and always remove them afterwards, even when the body raises."""
    try:
        yield start_hosts(count, prefix, workdir)
    finally:
        stop_hosts(prefix)


# Its name starts with "test": keep pytest from collecting it if a test module imports it.
test_hosts.__test__ = False


def write_inventory(hosts: Sequence[Host], path: str | os.PathLike, group: str = "testhosts",
                    hostvars: Mapping[str, Mapping] | None = None) -> Path:
    """Write an Ansible YAML inventory (as JSON, which is YAML) putting HOSTS under GROUP.

    HOSTVARS maps a host name to extra variables merged over the connection ones.
    """
    entries = {}
    for host in hosts:
        entries[host.name] = {
            "ansible_host": host.address,
            "ansible_user": host.user,
            "ansible_port": host.port,
            "ansible_ssh_private_key_file": host.identity_file,
            "ansible_ssh_common_args": ANSIBLE_SSH_COMMON_ARGS,
            # Auto-discovery can pick an unusable interpreter; the image has exactly this one.
            "ansible_python_interpreter": "/usr/bin/python3",
            **(hostvars or {}).get(host.name, {}),
        }
    path = Path(path)
    path.write_text(json.dumps({"all": {"children": {group: {"hosts": entries}}}}, indent=2) + "\n", encoding="utf-8")
    return path


# --- helpers for tests ------------------------------------------------------


def run_in(host: Host, argv: Sequence[str], detach: bool = False, env: Mapping[str, str] | None = None,
           timeout: float = PODMAN_TIMEOUT) -> subprocess.CompletedProcess:
    """Run ARGV inside HOST with podman exec and return the result; a non-zero exit does not raise."""
    options = ["--detach"] if detach else []
    for name, value in (env or {}).items():
        options += ["--env", f"{name}={value}"]
    return podman(["exec", *options, host.name, *argv], timeout=timeout, check=False)


def copy_into(host: Host, src: str | os.PathLike, dest: str) -> None:
    """Copy the local file or directory SRC to DEST inside HOST."""
    podman(["cp", str(src), f"{host.name}:{dest}"])


def wait_for_tcp(address: str, port: int, timeout: float) -> None:
    """Return once ADDRESS:PORT accepts a TCP connection; raise HostError after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((address, port), timeout=max(0.1, min(1.0, remaining))):
                return
        except OSError as exc:
            if remaining <= 0:
                raise HostError(f"{address}:{port} did not accept a TCP connection within {timeout:.0f} s: {exc}") from exc
        time.sleep(0.2)


# --- CLI --------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="testhosts", description="Real Debian test hosts over SSH, as podman containers.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("image", help="build the image if missing and print its reference")
    up = commands.add_parser("up", help="start hosts and print molecule's instance config as JSON")
    up.add_argument("--count", type=int, required=True)
    up.add_argument("--prefix", required=True)
    up.add_argument("--workdir", required=True, help="where the SSH key is generated")
    up.add_argument("--inventory", help="also write an Ansible inventory here")
    down = commands.add_parser("down", help="remove the hosts with this prefix")
    down.add_argument("--prefix", required=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; only results go to stdout, progress and errors go to stderr."""
    args = _parse_args(argv)
    try:
        if args.command == "image":
            print(ensure_image())
        elif args.command == "up":
            hosts = start_hosts(args.count, args.prefix, args.workdir)
            if args.inventory:
                write_inventory(hosts, args.inventory)
            print(json.dumps([host.instance_config() for host in hosts], indent=2))
        else:
            stop_hosts(args.prefix)
    except (HostError, OSError, subprocess.SubprocessError) as exc:
        print(f"testhosts: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

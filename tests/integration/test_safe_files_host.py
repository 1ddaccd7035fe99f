"""Root on a real host never acts through what an unprivileged user controls (issue 21: findings 1, 2, 8).

One container host with a real user `alice` (made with useradd over SSH). Root runs the collection's
modules and the baseline role's remediation tasks over SSH, as ansible-playbook does; alice plants
symlinks and, for the race, runs a process of her own (runuser) that keeps swapping her model file for
a symlink to a root file. Checks go around the collection: podman exec, stat, sha256sum.
"""

import hashlib
import json
import os

import pytest

from tests.hosts import testhosts
from tests.integration.conftest import PLANTED_SECRETS, Ansible
from tests.integration.test_remediations import sh

KEY = PLANTED_SECRETS[0]
APPROVED = b'approved weights v1\n'
KEEP_DIR = '/var/lib/aigov/approved-models'
RACE_SECONDS = 90  # alice's loop stops by itself; the test also kills it when done


def as_alice(host, script):
    return sh(host, 'runuser', '-u', 'alice', '--', 'sh', '-c', script)


def root_files(host):
    """Mode, owner and digest of the root files alice points her symlinks at."""
    return sh(host, 'sh', '-c', 'for f in /etc/shadow /etc/ssl /etc/aigov-victim; do stat -c "%n %a %u %g" $f; done; '
                                'sha256sum /etc/shadow /etc/aigov-victim; ls -A /etc/ssl | sha256sum')


@pytest.fixture(scope='module')
def host(tmp_path_factory, ansible_env):
    workdir = tmp_path_factory.mktemp('safe-files')
    with testhosts.test_hosts(1, 'aigov-safe-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        sh(host, 'useradd', '-m', 'alice')
        sh(host, 'sh', '-c', 'mkdir -p /etc/ssl/certs %s && echo root-data > /etc/aigov-victim && chmod 0666 /etc/aigov-victim'
                             % KEEP_DIR)
        (workdir / 'approved').write_bytes(APPROVED)
        testhosts.copy_into(host, workdir / 'approved', '%s/%s' % (KEEP_DIR, hashlib.sha256(APPROVED).hexdigest()))
        inventory = testhosts.write_inventory(hosts, workdir / 'inventory.json')
        yield dict(host=host, workdir=workdir, inventory=inventory, ansible=Ansible(ansible_env))


def module(ctx, name, args):
    return ctx['ansible'].run('ansible', ctx['host'].name, '-i', ctx['inventory'], '-m', name, '-a', json.dumps(args), '-vvv')


def test_a_secret_dir_symlinked_to_a_system_dir_is_refused(host):
    before = root_files(host['host'])
    as_alice(host['host'], 'printf "OPENAI_API_KEY=%s\\n" > ~/.env && ln -s /etc/ssl ~/.aigov-secrets' % KEY)
    run = module(host, 'aigov.core.ai_secret_move', {'path': '/home/alice/.env', 'format': 'env_file'})
    assert run.returncode != 0 and 'symlink' in run.stdout, run.stdout[-2000:]
    assert root_files(host['host']) == before
    assert KEY in sh(host['host'], 'cat', '/home/alice/.env')
    assert KEY not in run.stdout + run.stderr


def test_an_mcp_env_name_with_dotdot_is_refused(host):
    config = {'mcpServers': {'gh': {'command': 'npx', 'env': {'../../../tmp/planted_API_KEY': KEY}}}}
    as_alice(host['host'], "mkdir -p ~/mcp && printf '%%s' '%s' > ~/mcp/mcp.json" % json.dumps(config))
    run = module(host, 'aigov.core.ai_secret_move', {'path': '/home/alice/mcp/mcp.json', 'format': 'mcp_config'})
    assert run.returncode != 0 and 'not a valid variable name' in run.stdout, run.stdout[-2000:]
    assert testhosts.run_in(host['host'], ['test', '-e', '/tmp/planted_API_KEY']).returncode != 0
    assert sh(host['host'], 'ls', '-A', '/home/alice/mcp') == 'mcp.json'
    assert KEY not in run.stdout + run.stderr


def test_a_served_model_symlinked_to_a_root_file_is_refused(host):
    before = root_files(host['host'])
    as_alice(host['host'], 'mkdir -p ~/models && ln -s /etc/shadow ~/models/model.bin')
    run = module(host, 'aigov.core.ai_model_rollback', {
        'path': '/home/alice/models/model.bin', 'approved_models': [{'name': 'v1', 'sha256': hashlib.sha256(APPROVED).hexdigest()}]})
    assert run.returncode != 0 and 'symlink' in run.stdout, run.stdout[-2000:]
    assert root_files(host['host']) == before


def test_a_user_swapping_her_file_for_symlinks_never_changes_a_root_file(host):
    """Finding 2 and 8: alice's process keeps swapping her model for a symlink to a root file while root remediates."""
    before = root_files(host['host'])
    as_alice(host['host'], 'mkdir -p ~/race')
    loop = ('cd ~/race && echo $$ > pid && exec timeout %d sh -c \'while true; do printf weights > m.tmp; mv -f m.tmp model; '
            'ln -sf /etc/shadow l.tmp; mv -f l.tmp model; ln -sf /etc/aigov-victim l.tmp; mv -f l.tmp model; done\''
            % RACE_SECONDS)
    testhosts.run_in(host['host'], ['runuser', '-u', 'alice', '--', 'sh', '-c', loop], detach=True)
    items = [{'path': '/home/alice/race/model', 'sha256': None, 'rule_ids': [], 'finding_ids': []}] * 15
    plan = {'remediate': {'fix_model_file_mode': items, 'restrict_credential_file': items, 'quarantine_model_file': items}}
    play = [{'hosts': 'all', 'gather_facts': False,
             'vars': {'aigov_baseline_actions': [], 'aigov_baseline_quarantine_dir': '/var/lib/aigov/quarantine',
                      'aigov_baseline_plan': plan},
             'tasks': [{'name': 'The baseline role\'s remediations, as the role runs them',
                        'ansible.builtin.include_role': {'name': 'aigov.core.ai_baseline', 'tasks_from': 'remediate/%s.yml' % name,
                                                         'apply': {'ignore_errors': True}}}
                       for name in ('fix_model_file_mode', 'restrict_credential_file', 'quarantine_model_file')] + [
                 {'name': 'Roll the model back, again and again',
                  'aigov.core.ai_model_rollback': {'path': '/home/alice/race/model',
                                                   'approved_models': [{'name': 'v1', 'sha256': hashlib.sha256(APPROVED).hexdigest()}]},
                  'loop': list(range(15)), 'ignore_errors': True}]}]
    (host['workdir'] / 'race.yml').write_text(json.dumps(play))
    try:
        run = host['ansible'].playbook('-i', host['inventory'], host['workdir'] / 'race.yml', timeout=300)
        still_racing = testhosts.run_in(host['host'], ['sh', '-c', 'kill -0 $(cat /home/alice/race/pid)']).returncode == 0
    finally:
        testhosts.run_in(host['host'], ['sh', '-c', 'kill $(cat /home/alice/race/pid)'])  # timeout passes it on
    assert run.returncode == 0, run.stdout[-3000:]
    assert still_racing, 'alice stopped swapping before root was done: the race was not exercised'
    # Root met both: her swapped-in symlinks (refused) and her regular file (acted on, as alice).
    assert 'symlink' in run.stdout and 'changed: [' in run.stdout, run.stdout[-3000:]
    assert root_files(host['host']) == before, run.stdout[-3000:]
    assert sh(host['host'], 'stat', '-c', '%U', '/etc/shadow', '/etc/aigov-victim') == 'root\nroot'

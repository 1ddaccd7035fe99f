"""Every file the code, playbooks and docs point a reader to exists (alert_intake named a docs/alert-intake.md that never did)."""

import glob
import os
import re

from tests.conftest import ROOT

REFERENCE = re.compile(r'(?<![/.\w])(docs/[A-Za-z0-9_-]+\.md)')  # "see docs/x.md": the pointers to read on
SOURCES = ('plugins/**/*.py', 'extensions/**/*.py', 'extensions/**/*.yml', 'playbooks/*.yml', 'roles/**/*.yml',
           'roles/*/README.md', 'docs/*.md', 'README.md')


def test_every_referenced_file_exists():
    missing = []
    for pattern in SOURCES:
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            for number, line in enumerate(open(path, encoding='utf-8'), 1):
                for reference in REFERENCE.findall(line):
                    if not os.path.exists(os.path.join(ROOT, reference.rstrip('.'))):
                        missing.append('%s:%d: %s' % (os.path.relpath(path, ROOT), number, reference))
    assert missing == []


def test_the_architecture_names_every_module_role_playbook_and_rulebook():
    with open(os.path.join(ROOT, 'docs', 'architecture.md'), encoding='utf-8') as handle:
        architecture = handle.read()
    names = [os.path.splitext(os.path.basename(path))[0] for pattern in (
        'plugins/modules/*.py', 'plugins/action/*.py', 'plugins/filter/*.py', 'plugins/lookup/*.py', 'plugins/inventory/*.py',
        'plugins/module_utils/*/*.py', 'plugins/plugin_utils/*.py', 'roles/*', 'playbooks/*.yml', 'extensions/eda/rulebooks/*.yml',
        'extensions/eda/plugins/event_source/*.py') for path in glob.glob(os.path.join(ROOT, pattern))]
    assert [name for name in names if name != '__init__' and name not in architecture] == []

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

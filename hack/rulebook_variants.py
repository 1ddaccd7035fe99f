"""Write the persistent variant of a shipped rulebook from the rulebook itself (one source of rules).

    .venv/bin/python hack/rulebook_variants.py          # rewrite the variants
    .venv/bin/python hack/rulebook_variants.py --check  # exit 1 when a variant differs from what this writes

Why a second file at all: ansible-rulebook 1.3.2 reads a source's `feedback` before it renders templates
(app.py, _get_feedback_queue: `source.source_args.get("feedback")`), so `feedback: "{{ aigov_feedback }}"`
is a non-empty string, always true; and a source with feedback makes it refuse to start without
--persistence-id (SourcePluginFeedbackMisconfiguredException). One rulebook cannot run both ways.
The variant is the base rulebook, text for text, with `feedback: true` in the aigov.core.aiops_alerts
source, another ruleset name and a header saying how to run it; tests/unit/test_rulebooks.py keeps the
shipped file equal to what this writes.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULEBOOKS = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks')
# base rulebook -> its persistent variant
VARIANTS = {'aiops_remediation.yml': 'aiops_remediation_persistent.yml'}
SOURCE_LINE = '      aigov.core.aiops_alerts:\n'
NAME_SUFFIX = ' (at least once, with persistence)'

HEADER = """\
# GENERATED from {base} by hack/rulebook_variants.py: edit {base}, then run
# `.venv/bin/python hack/rulebook_variants.py` (tests/unit/test_rulebooks.py checks the two agree).
#
# {base} with the source's `feedback: true`: at least once to the rules engine
# (docs/remediation.md, "Delivery"). Every event answered 202 stays in <audit log>.spool until
# ansible-rulebook's feedback says its persistent session has it, and is re-emitted with its
# original decision when the source starts again. ansible-rulebook refuses to start it without
# --persistence-id, and needs a database in the variables (drools_db_file_path: embedded H2; or
# drools_db_host, drools_db_port, drools_db_name, ...: PostgreSQL); the source refuses to
# confirm anything when ansible-rulebook runs without one.
#
#   ansible-rulebook -r aigov.core.{variant} -i inventory.yml --vars vars.yml \\
#       --persistence-id 1 --id 1
#
# vars.yml: as below, plus drools_db_file_path (an absolute path, e.g. /var/lib/aigov/eda/h2db).
#
"""


class VariantError(ValueError):
    pass


def persistent(base_name, text):
    """The persistent variant of the rulebook text base_name holds."""
    if text.count(SOURCE_LINE) != 1:
        raise VariantError('%s: expected one aigov.core.aiops_alerts source' % base_name)
    if 'feedback:' in text:
        raise VariantError('%s: the base rulebook must not set feedback (it would need --persistence-id)' % base_name)
    lines = text.splitlines(True)
    out, named = [], False
    for line in lines:
        if not named and line.startswith('- name: '):
            line, named = line.rstrip('\n') + NAME_SUFFIX + '\n', True
        out.append(line)
        if line == SOURCE_LINE:
            out.append('        feedback: true\n')
    if not named:
        raise VariantError('%s: no ruleset name' % base_name)
    start = 1 if out and out[0] == '---\n' else 0
    return '---\n' + HEADER.format(base=base_name, variant=VARIANTS[base_name][:-len('.yml')]) + ''.join(out[start:])


def expected():
    """{variant file name: the text it must hold}."""
    result = {}
    for base, variant in sorted(VARIANTS.items()):
        with open(os.path.join(RULEBOOKS, base)) as handle:
            result[variant] = persistent(base, handle.read())
    return result


def main(argv):
    stale = []
    for name, text in expected().items():
        path = os.path.join(RULEBOOKS, name)
        current = open(path).read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(name)
        if '--check' not in argv:
            with open(path, 'w') as handle:
                handle.write(text)
    if stale:
        print('%s %s' % ('out of date:' if '--check' in argv else 'written:', ', '.join(stale)))
    return 1 if stale and '--check' in argv else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

"""docs/policy-packs.md carries the default pack's rule catalogue; it must match the pack.

Regenerate after changing policies/default.yml: AIGOV_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/unit/test_policy_docs.py
"""

import os

from ansible_collections.aigov.core.plugins.module_utils.policy import policy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, 'docs', 'policy-packs.md')
BEGIN, END = '<!-- rule-catalogue:begin -->\n', '<!-- rule-catalogue:end -->\n'


def catalogue():
    pack = policy.load_pack(os.path.join(ROOT, 'policies', 'default.yml'))
    lines = ['| Rule | Title | Severity | Frameworks | Remediation |', '|---|---|---|---|---|']
    for rule in pack['rules']:
        remediation = rule.get('remediation')
        if remediation:
            how = 'automatable' if remediation.get('automatable') else 'manual'
            how += ', disruptive' if remediation.get('disruptive') else ''
            fix = '`%s` (%s)' % (remediation['id'], how)
        else:
            fix = '-'
        lines.append('| %s | %s | %s | %s | %s |' % (rule['id'], rule['title'], rule['severity'],
                                                     ', '.join(sorted(rule['references'])), fix))
    return '\n'.join(lines) + '\n'


def test_rule_catalogue_matches_the_default_pack():
    with open(DOC) as handle:
        text = handle.read()
    head, rest = text.split(BEGIN)
    _old, tail = rest.split(END)
    if os.environ.get('AIGOV_UPDATE_DOCS'):
        with open(DOC, 'w') as handle:
            handle.write(head + BEGIN + catalogue() + END + tail)
        return
    assert rest.split(END)[0] == catalogue()

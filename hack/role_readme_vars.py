"""Print the variables table of a role's README.md from its meta/argument_specs.yml.

    .venv/bin/python hack/role_readme_vars.py roles/ai_baseline

tests/unit/test_role_readmes.py keeps every README's table and its argument specs equal.
"""

import re
import sys

import yaml


def _text(value):
    text = ' '.join(value) if isinstance(value, list) else str(value)
    return re.sub(r'\s+', ' ', re.sub(r'[OCEMV]\(([^)]*)\)', r'`\1`', text)).replace('|', '\\|').strip()


def _type(spec):
    kind = spec.get('type', 'str')
    return '%s of %s' % (kind, spec['elements']) if spec.get('elements') else kind


def _default(spec):
    if spec.get('required'):
        return 'required'
    if 'default' not in spec:
        return ''
    return '`%s`' % (yaml.safe_dump(spec['default'], default_flow_style=True).strip().replace('\n...', '').strip())


def options(role_dir):
    """{name: spec} of every option of the role's main entry point, suboptions as `parent[].child`."""
    with open('%s/meta/argument_specs.yml' % role_dir) as handle:
        top = yaml.safe_load(handle)['argument_specs']['main']['options']
    found = {}
    for name, spec in top.items():
        found[name] = spec
        for child, child_spec in (spec.get('options') or {}).items():
            found['%s[].%s' % (name, child)] = child_spec
    return found


def table(role_dir):
    rows = ['| Variable | Type | Default | Description |', '|---|---|---|---|']
    for name, spec in options(role_dir).items():
        rows.append('| `%s` | %s | %s | %s |' % (name, _type(spec), _default(spec), _text(spec.get('description', ''))))
    return '\n'.join(rows)


if __name__ == '__main__':
    print(table(sys.argv[1].rstrip('/')))

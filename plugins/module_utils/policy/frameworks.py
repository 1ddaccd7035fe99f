# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Framework catalogues: the controls a rule may cite, and what the rules cover.

A catalogue (docs/policy-packs.md, schemas/framework-catalogue.v1.json) lists one
framework's identifiers and official titles, with the version and the source
they were taken from. The collection ships one per framework its packs cite
(`frameworks/` at the collection root); a pack may bring its own for other
frameworks (an internal control set). Every reference of every finding source
is checked against them: a reference is a catalogue identifier, alone
("PR.AA-03") or followed by a space and the exact title ("LLM06:2025 Excessive
Agency"). The coverage matrix says, per framework, which controls the loaded
rules cite and which none does.
"""

from __future__ import annotations

import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError, DataFileError

CATALOGUE_SCHEMA_VERSIONS = (1,)
COVERAGE_SCHEMA = 'aigov.core/framework-coverage'
COVERAGE_SCHEMA_VERSION = 1
FRAMEWORK_KEY = re.compile(r'^[a-z0-9][a-z0-9.-]*$')
_TEXT_KEYS = ('name', 'version', 'publication', 'source')
_OPTIONAL_TEXT = ('transcribed_from', 'scope')
_CATALOGUE_KEYS = frozenset(('schema_version', 'framework', 'controls') + _TEXT_KEYS + _OPTIONAL_TEXT)
_CONTROL_KEYS = frozenset(('id', 'title', 'group'))
# The catalogue metadata a check result carries (no path: results travel).
PUBLIC_KEYS = ('framework', 'name', 'version', 'publication', 'source', 'scope')

# frameworks/ at the collection root, beside plugins/ (module_utils/policy/ -> 4 levels up).
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), 'frameworks')
_BUNDLED = {}


def _text(value):
    return isinstance(value, str) and bool(value.strip())


def _check_controls(controls, problems):
    if not isinstance(controls, list) or not controls:
        problems.append('controls must be a non-empty list of {id, title}')
        return []
    seen, checked = set(), []
    for index, control in enumerate(controls):
        where = 'controls[%d]' % index
        if not isinstance(control, dict):
            problems.append('%s must be a mapping with id and title' % where)
            continue
        for key in sorted(set(control) - _CONTROL_KEYS, key=str):
            problems.append('%s: unknown key %r (known: %s)' % (where, key, ', '.join(sorted(_CONTROL_KEYS))))
        ident, title = control.get('id'), control.get('title')
        if not _text(ident) or ident != ident.strip():
            problems.append('%s: id must be a non-empty string without surrounding spaces' % where)
            continue
        where = '%s (id %s)' % (where, ident)
        if ident in seen:
            problems.append('%s: duplicate id' % where)
        seen.add(ident)
        if not _text(title):
            problems.append('%s: title must be a non-empty string' % where)
        if 'group' in control and not _text(control['group']):
            problems.append('%s: group must be a non-empty string' % where)
        checked.append(dict((key, control[key]) for key in ('id', 'title', 'group') if key in control))
    return checked


def load_catalogue(path):
    """Load and validate one catalogue file; raise DataFileError listing every problem."""
    data, digest = load_yaml_mapping(path, 'framework catalogue')
    problems = []
    check_schema_version(data, CATALOGUE_SCHEMA_VERSIONS, problems)
    for key in sorted(set(data) - _CATALOGUE_KEYS, key=str):
        problems.append('unknown key %r (known: %s)' % (key, ', '.join(sorted(_CATALOGUE_KEYS))))
    framework = data.get('framework')
    if not isinstance(framework, str) or not FRAMEWORK_KEY.match(framework):
        problems.append('framework must be a lower-case key like nist-csf-2.0, got %r' % (framework,))
    for key in _TEXT_KEYS:
        if not _text(data.get(key)):
            problems.append('%s must be a non-empty string (where the identifiers and titles were taken from)' % key
                            if key in ('publication', 'source') else '%s must be a non-empty string' % key)
    for key in _OPTIONAL_TEXT:
        if key in data and not _text(data[key]):
            problems.append('%s must be a non-empty string' % key)
    controls = _check_controls(data.get('controls'), problems)
    if problems:
        raise DataFileError(path, problems)
    catalogue = dict((key, data[key]) for key in PUBLIC_KEYS + ('transcribed_from',) if key in data)
    catalogue.update(path=path, sha256=digest, controls=controls)
    return catalogue


def bundled_paths():
    """The catalogue files shipped with the collection."""
    return sorted(os.path.join(BUNDLED_DIR, name) for name in os.listdir(BUNDLED_DIR) if name.endswith('.yml'))


def bundled():
    """The bundled catalogues, by framework key (loaded once per process and file version)."""
    result = {}
    for path in bundled_paths():
        stamp = os.stat(path).st_mtime_ns
        cached = _BUNDLED.get(path)
        if cached is None or cached[0] != stamp:
            cached = _BUNDLED[path] = (stamp, load_catalogue(path))
        result[cached[1]['framework']] = cached[1]
    return result


def merge(base, extra):
    """base plus the catalogues of extra; a framework may be defined once (same file content is fine)."""
    merged = dict(base)
    for catalogue in extra:
        known = merged.get(catalogue['framework'])
        if known is not None and known['sha256'] != catalogue['sha256']:
            raise DataFileError(catalogue['path'], ['framework %r is already defined by %s; give your catalogue its own '
                                                    'framework key' % (catalogue['framework'], known['path'])])
        merged[catalogue['framework']] = catalogue
    return merged


def index(catalogue):
    """(ids longest first, controls by id): what resolve() looks references up in."""
    return (sorted((c['id'] for c in catalogue['controls']), key=lambda ident: (-len(ident), ident)),
            dict((c['id'], c) for c in catalogue['controls']))


def resolve(catalogue, reference, lookup=None):
    """(control, problem): the catalogue control a reference names, or why it names none.

    A reference is an identifier alone, or an identifier, one space and the
    control's exact title. lookup: index(catalogue), when resolving many.
    """
    ids, by_id = lookup or index(catalogue)
    if reference in by_id:
        return by_id[reference], None
    for ident in ids:
        if reference.startswith(ident + ' '):
            control, title = by_id[ident], reference[len(ident) + 1:]
            if title == control['title']:
                return control, None
            return None, ('title of %s differs from the catalogue (%s %s): %r, catalogue: %r'
                          % (ident, catalogue['name'], catalogue['version'], title, control['title']))
    return None, '%r is not in the %s %s catalogue' % (reference, catalogue['name'], catalogue['version'])


def check_references(references, catalogues, where, problems):
    """Append a problem, naming `where`, for each reference that is malformed or not in its catalogue."""
    if not isinstance(references, dict) or not references:
        problems.append('%s: references must map at least one framework (%s) to a list of controls'
                        % (where, ', '.join(sorted(catalogues))))
        return
    for framework, controls in references.items():
        catalogue = catalogues.get(framework)
        if catalogue is None:
            problems.append('%s: unknown framework %r in references (catalogues loaded: %s)'
                            % (where, framework, ', '.join(sorted(catalogues))))
        if not isinstance(controls, list) or not controls or not all(isinstance(c, str) and c for c in controls):
            problems.append('%s: references.%s must be a non-empty list of control ids' % (where, framework))
            continue
        lookup = index(catalogue) if catalogue is not None else None
        for reference in controls if catalogue is not None else ():
            problem = resolve(catalogue, reference, lookup)[1]
            if problem:
                problems.append('%s: references.%s: %s' % (where, framework, problem))


def require_references(references, where):
    """Raise AigovError unless every reference is in a bundled catalogue (code-held references)."""
    problems = []
    check_references(references, bundled(), where, problems)
    if problems:
        raise AigovError('framework references are invalid:\n  - %s' % '\n  - '.join(problems))


def public(catalogues):
    """Catalogues as a check result carries them: metadata and controls, sorted by framework key."""
    return [dict([(key, catalogue[key]) for key in PUBLIC_KEYS if key in catalogue]
                 + [('controls', [dict(c) for c in catalogue['controls']])])
            for _key, catalogue in sorted(catalogues.items())]


def coverage(catalogues, rules):
    """Per framework: each control with the ids of the rules citing it, and the counts.

    catalogues: a list as public() returns; rules: per-rule results
    ({rule_id, references}). A reference no catalogue holds is listed under
    `unknown_references` (a report built from an unvalidated result).
    """
    matrix = []
    for catalogue in catalogues:
        citing = dict((control['id'], []) for control in catalogue['controls'])
        unknown, lookup = [], index(catalogue)
        for rule in rules:
            for reference in (rule.get('references') or {}).get(catalogue['framework'], ()):
                control = resolve(catalogue, reference, lookup)[0]
                if control is None:
                    unknown.append({'rule_id': rule['rule_id'], 'reference': reference})
                elif rule['rule_id'] not in citing[control['id']]:
                    citing[control['id']].append(rule['rule_id'])
        controls = [dict(control, rules=sorted(citing[control['id']])) for control in catalogue['controls']]
        covered = sum(1 for control in controls if control['rules'])
        entry = dict([(key, catalogue[key]) for key in PUBLIC_KEYS if key in catalogue])
        entry.update(total=len(controls), covered=covered, controls=controls, unknown_references=unknown)
        matrix.append(entry)
    return matrix


def coverage_lines(matrix):
    """The matrix as plain lines for a terminal: per framework the counts, what is covered and by what, what is not."""
    lines = []
    for entry in matrix:
        lines.append('%s (%s %s): %d of %d controls covered' % (
            entry['framework'], entry['name'], entry['version'], entry['covered'], entry['total']))
        covered = ['%s [%s]' % (c['id'], ', '.join(c['rules'])) for c in entry['controls'] if c['rules']]
        missing = [c['id'] for c in entry['controls'] if not c['rules']]
        lines.append('  covered: %s' % ('; '.join(covered) or 'none'))
        lines.append('  not covered: %s' % (', '.join(missing) or 'none'))
    return lines

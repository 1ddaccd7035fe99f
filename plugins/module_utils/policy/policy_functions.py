# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JMESPath functions policy expressions may call beyond JMESPath's own.

Data cannot compare versions or read a pack's parameters, so these few
functions exist (docs/policy-packs.md, "Functions"):

  version_lt(version, bound)      dotted numeric / PEP 440-ish "less than"; false when
                                  either side is null or not a version (null-safe)
  has_flag(argv, flags)           argv (a redacted command line) carries one of flags,
                                  as `--flag`, `--flag=value` or `--flag value`
  starts_with_any(text, prefixes) text starts with one of prefixes (a string or a list);
                                  false when text is null (an image not from an approved registry)
  param(name)                     the value of a pack parameter (pack `parameters:`,
                                  overridable per run); unknown names fail validation

Every call is checked when the pack is validated (known function, arity,
literal parameter names), so a typo fails before any asset is looked at.
"""

from __future__ import annotations

import re

try:
    from jmespath import functions as jp_functions
    from jmespath.visitor import Options, TreeInterpreter
    HAS_JMESPATH = True
except ImportError:  # the caller reports the missing library
    HAS_JMESPATH = False

_RELEASE = re.compile(r'^v?(\d+(?:\.\d+)*)(?:[.-]?(dev|a|alpha|b|beta|c|rc|pre|preview|post|p)\.?(\d*))?')
# Where each suffix sorts against the plain release (rank 3): 0.11.0rc1 < 0.11.0 < 0.11.0.post1.
_SUFFIX_RANK = {'dev': 0, 'a': 1, 'alpha': 1, 'b': 2, 'beta': 2, 'c': 2.5, 'rc': 2.5, 'pre': 2.5, 'preview': 2.5,
                'post': 4, 'p': 4}
CUSTOM = {'version_lt': 2, 'has_flag': 2, 'param': 1, 'starts_with_any': 2}


def parse_version(text):
    """A sortable key of a version string, or None when it is not one ("0.1.34", "v0.8.2", "0.11.0rc1")."""
    if not isinstance(text, str):
        return None
    found = _RELEASE.match(text.strip().lower())
    if not found:
        return None
    release = [int(part) for part in found.group(1).split('.')]
    while len(release) > 1 and release[-1] == 0:  # 0.11 == 0.11.0
        release.pop()
    suffix = found.group(2)
    rank = _SUFFIX_RANK[suffix] if suffix else 3
    return (tuple(release), rank, int(found.group(3) or 0))


def version_lt(version, bound):
    """True when both parse and version < bound; false otherwise (unknown versions are not flagged)."""
    left, right = parse_version(version), parse_version(bound)
    return left is not None and right is not None and left < right


def has_flag(argv, flags):
    """True when a command line carries one of flags (`--flag`, `--flag=value`)."""
    if not isinstance(argv, list):
        return False
    wanted = frozenset([flags] if isinstance(flags, str) else flags)
    return any(isinstance(token, str) and token.partition('=')[0] in wanted for token in argv)


def starts_with_any(text, prefixes):
    """True when text starts with one of prefixes (none: false)."""
    prefixes = [prefixes] if isinstance(prefixes, str) else prefixes or []
    return isinstance(text, str) and any(isinstance(prefix, str) and prefix and text.startswith(prefix) for prefix in prefixes)


if HAS_JMESPATH:
    class PolicyFunctions(jp_functions.Functions):
        """JMESPath's functions plus ours, bound to one pack's parameters."""

        def __init__(self, parameters=None):
            super(PolicyFunctions, self).__init__()
            self.parameters = dict(parameters or {})

        @jp_functions.signature({'types': ['string', 'null']}, {'types': ['string']})
        def _func_version_lt(self, version, bound):
            return version_lt(version, bound)

        @jp_functions.signature({'types': ['array', 'null']}, {'types': ['string', 'array']})
        def _func_has_flag(self, argv, flags):
            return has_flag(argv, flags)

        @jp_functions.signature({'types': ['string', 'null']}, {'types': ['string', 'array', 'null']})
        def _func_starts_with_any(self, text, prefixes):
            return starts_with_any(text, prefixes)

        @jp_functions.signature({'types': ['string']})
        def _func_param(self, name):
            return self.parameters.get(name)


def interpreter(parameters=None):
    """One reusable tree interpreter with our functions (cheaper than ParsedResult.search's per-call one)."""
    return TreeInterpreter(Options(custom_functions=PolicyFunctions(parameters)))


def _walk(node):
    yield node
    for child in node.get('children') or ():
        if isinstance(child, dict):
            yield from _walk(child)


def check_calls(parsed, parameters, field, problems, where):
    """Append a problem for each unknown function, wrong arity, unknown parameter or bare null/true/false."""
    builtin = PolicyFunctions().FUNCTION_TABLE
    for node in _walk(parsed.parsed):
        if node.get('type') == 'field' and node.get('value') in ('null', 'true', 'false'):
            # A bare null/true/false is a field of that name (always null), not the literal.
            problems.append('%s: %s uses a field named %s; write the literal as `%s` (in backticks)'
                            % (where, field, node['value'], node['value']))
        if node.get('type') != 'function_expression':
            continue
        name, args = node['value'], node.get('children') or []
        if name not in builtin:
            problems.append('%s: %s calls unknown function %s() (custom: %s)' % (where, field, name, ', '.join(sorted(CUSTOM))))
            continue
        arity = builtin[name]['signature']
        variadic = bool(arity) and arity[-1].get('variadic')
        if (len(args) < len(arity)) if variadic else (len(args) != len(arity)):
            problems.append('%s: %s calls %s() with %d argument(s), expected %d' % (where, field, name, len(args), len(arity)))
        if name == 'param' and args:
            if args[0].get('type') != 'literal' or not isinstance(args[0].get('value'), str):
                problems.append("%s: %s: param() takes a literal name, e.g. param('credential_max_age_days')" % (where, field))
            elif args[0]['value'] not in parameters:
                problems.append('%s: %s uses param(%r), which the pack does not declare under parameters (declared: %s)'
                                % (where, field, args[0]['value'], ', '.join(sorted(parameters)) or 'none'))


def _kinds(node):
    """Kinds an expression can only be true for, or None when not evident from its shape."""
    kind_type = node.get('type')
    children = node.get('children') or []
    if kind_type == 'comparator' and node.get('value') == 'eq' and len(children) == 2:
        sides = dict((child.get('type'), child) for child in children)
        field, literal = sides.get('field'), sides.get('literal')
        if field and literal and field['value'] == 'kind' and isinstance(literal['value'], str):
            return frozenset([literal['value']])
    if kind_type == 'function_expression' and node['value'] == 'contains' and len(children) == 2:
        listed, field = children
        if field.get('type') == 'field' and field['value'] == 'kind' and listed.get('type') == 'multi_select_list' \
                and all(item.get('type') == 'literal' and isinstance(item['value'], str) for item in listed['children']):
            return frozenset(item['value'] for item in listed['children'])
    if kind_type == 'and_expression':
        found = [kinds for kinds in (_kinds(child) for child in children) if kinds is not None]
        return frozenset.intersection(*found) if found else None
    if kind_type == 'or_expression':
        found = [_kinds(child) for child in children]
        return None if any(kinds is None for kinds in found) else frozenset.union(*found)
    return None


def applies_to_kinds(parsed):
    """The asset kinds an applies_to expression selects from (a cheap pre-filter), or None for any kind.

    Only `kind == 'x'`, `contains([...], kind)` and their &&/|| combinations
    are read; anything else means "any kind", so the filter never changes a result.
    """
    return _kinds(parsed.parsed)

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compile a parsed JMESPath expression into Python closures.

jmespath's TreeInterpreter dispatches on every AST node for every asset;
policy expressions are small and evaluated tens of thousands of times, so
the node types rules use (fields, comparisons, &&, ||, !, literals, lists,
function calls) become closures once, with jmespath's exact semantics
(visitor.TreeInterpreter, jmespath 1.x). Any other node type is handed to
the interpreter, so every expression still evaluates exactly as JMESPath
says. tests/unit/.../test_policy_compiler.py compares both on every rule.
"""

from __future__ import annotations

from numbers import Number


def _is_number(value):
    cls = value.__class__
    if cls is int or cls is float:  # the common case, without the Number ABC check
        return True
    return cls is not bool and isinstance(value, Number)


def _equals(left, right):
    # JMESPath: 0/1 never equal false/true (Python says 0 == False).
    if _is_number(left) and left in (0, 1):
        if isinstance(right, bool):
            return False
    elif _is_number(right) and right in (0, 1) and isinstance(left, bool):
        return False
    return left == right


def _is_false(value):
    return value == '' or value == [] or value == {} or value is None or value is False


def _comparable(value):
    return _is_number(value) or isinstance(value, str)


_ORDER = {'lt': lambda a, b: a < b, 'gt': lambda a, b: a > b, 'lte': lambda a, b: a <= b, 'gte': lambda a, b: a >= b}


def _field(name):
    def field(value):
        if value.__class__ is dict:
            return value.get(name)
        try:
            return value.get(name)
        except AttributeError:
            return None
    return field


def _path(names):
    """a.b.c over plain dicts: the common case of a subexpression of fields."""
    def path(value):
        for name in names:
            if value.__class__ is dict:
                value = value.get(name)
            elif value is None:
                return None
            else:
                try:
                    value = value.get(name)
                except AttributeError:
                    return None
        return value
    return path


def _comparator(node, interpreter):
    op = node['value']
    left_node, right_node = node['children']
    left, right = build(left_node, interpreter), build(right_node, interpreter)
    if op in ('eq', 'ne'):
        negate = op == 'ne'
        if right_node['type'] == 'literal' and isinstance(right_node['value'], str):
            constant = right_node['value']  # a string is never 0/1 nor a boolean: plain equality
            if negate:
                return lambda value: left(value) != constant
            return lambda value: left(value) == constant
        if right_node['type'] == 'literal' and (right_node['value'] is None or isinstance(right_node['value'], bool)):
            constant = right_node['value']  # null and booleans equal only themselves
            if negate:
                return lambda value: left(value) is not constant
            return lambda value: left(value) is constant
        if negate:
            return lambda value: not _equals(left(value), right(value))
        return lambda value: _equals(left(value), right(value))
    order = _ORDER[op]

    def compare(value):
        a, b = left(value), right(value)
        if not (_comparable(a) and _comparable(b)):
            return None
        return order(a, b)
    return compare


def _and(first, second):
    def both(value):
        matched = first(value)
        if matched is True:  # the usual result of a comparison: skip the five-way falsiness test
            return second(value)
        if matched is False or _is_false(matched):
            return matched
        return second(value)
    return both


def _or(first, second):
    def either(value):
        matched = first(value)
        if matched is not True and _is_false(matched):
            matched = second(value)
        return matched
    return either


def _not(inner):
    def negated(value):
        result = inner(value)
        if _is_number(result) and result == 0:
            return False  # !0 is false in JMESPath
        return not result
    return negated


def _function(node, interpreter):
    call = interpreter._functions.call_function  # the interpreter's table: type checks and our functions
    name = node['value']
    args = [build(child, interpreter) for child in node['children']]
    if len(args) == 1:
        only = args[0]
        return lambda value: call(name, [only(value)])
    if len(args) == 2:
        first, second = args
        return lambda value: call(name, [first(value), second(value)])
    return lambda value: call(name, [arg(value) for arg in args])


def _multi_select_list(node, interpreter):
    items = [build(child, interpreter) for child in node['children']]

    def multi(value):
        if value is None:
            return None
        return [item(value) for item in items]
    return multi


def build(node, interpreter):
    """A closure value -> result equal to interpreter.visit(node, value)."""
    kind = node['type']
    children = node.get('children') or []
    if kind == 'field':
        return _field(node['value'])
    if kind == 'literal':
        constant = node['value']
        return lambda value: constant
    if kind in ('current', 'identity'):
        return lambda value: value
    if kind == 'subexpression':
        if all(child['type'] == 'field' for child in children):
            return _path(tuple(child['value'] for child in children))
        steps = [build(child, interpreter) for child in children]

        def chain(value):
            for step in steps:
                value = step(value)
            return value
        return chain
    if kind == 'comparator':
        return _comparator(node, interpreter)
    if kind == 'and_expression':
        return _and(build(children[0], interpreter), build(children[1], interpreter))
    if kind == 'or_expression':
        return _or(build(children[0], interpreter), build(children[1], interpreter))
    if kind == 'not_expression':
        return _not(build(children[0], interpreter))
    if kind == 'function_expression':
        return _function(node, interpreter)
    if kind == 'multi_select_list':
        return _multi_select_list(node, interpreter)
    visit = interpreter.visit  # projections, filters, pipes, ...: the interpreter itself
    return lambda value: visit(node, value)

"""Targets of the figures: each measured ratio against its target, PASS or MISS, printed the same way everywhere.

A figure calls check() for each of its targets and returns the list under 'targets'; bench/run.py prints them
all again at the end of a run, so `make bench` ends with every figure against its target.
"""

OPERATORS = {'>=': lambda value, target: value >= target, '<=': lambda value, target: value <= target}


def check(name, value, op, target, unit='x'):
    """A target's verdict as a dict (name, value, op, target, unit, verdict), printed as one line."""
    verdict = 'PASS' if OPERATORS[op](value, target) else 'MISS'
    found = {'name': name, 'value': round(value, 3), 'op': op, 'target': target, 'unit': unit, 'verdict': verdict}
    print('  %s' % line(found))
    return found


def line(found):
    return '%-4s %-62s %8.3f%s (target %s %g%s)' % (
        found['verdict'], found['name'], found['value'], found['unit'], found['op'], found['target'], found['unit'])

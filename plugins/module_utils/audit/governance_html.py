# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The governance report (governance_kpis.compute) as one self-contained HTML page.

Same page, styling, CSP and escaping as the compliance report (report_html):
owners, remediation names and the chain problem are data and are escaped.
A log whose chain is broken is shown as UNTRUSTWORTHY above every figure, one without an
anchor as UNANCHORED (its end may have been cut: not called trustworthy).
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.reports.report_html import escape_text as esc
from ansible_collections.aigov.core.plugins.module_utils.reports.report_html import page

_GROUP_COLUMNS = (('MTTR median', lambda k: _seconds(k['mttr']['median_s'])),
                  ('MTTR automated', lambda k: _seconds(k['mttr']['by_decision']['automate']['median_s'])),
                  ('MTTR approved', lambda k: _seconds(k['mttr']['by_decision']['review']['median_s'])),
                  ('Repairs', lambda k: k['mttr']['count']),
                  ('Unremediated', lambda k: k['mttr']['unremediated']),
                  ('Automation', lambda k: _percent(k['automation']['rate'])),
                  ('Overrides', lambda k: _percent(k['overrides']['rate'])),
                  ('Exceptions', lambda k: k['exceptions']['total']),
                  ('Actions', lambda k: k['actions']['total']),
                  ('Rotations', lambda k: k['secret_rotations']['total']))


def _seconds(value):
    if value is None:
        return 'n/a'
    if value < 120:
        return '%.1f s' % value
    if value < 7200:
        return '%.1f min' % (value / 60.0)
    return '%.1f h' % (value / 3600.0)


def _percent(rate):
    return 'n/a' if rate is None else '%.1f %%' % (rate * 100)


def _header(report):
    chain, log, window = report['chain'], report['log'], report['window']
    if report['trusted']:
        status = '<span class="status ok">CHAIN INTACT AND ANCHORED</span>'
    elif chain['state'] == 'unanchored':
        status = ('<span class="status warn">UNANCHORED: the hash chain holds as far as it goes, but without an anchor '
                  'entries cut from its end cannot be detected</span>')
    else:
        problem = chain.get('problem') or {}
        status = ('<span class="status bad">UNTRUSTWORTHY: the audit log\'s hash chain is broken</span> '
                  '<div id="chain-problem">%s: %s</div>' % (esc(problem.get('kind')), esc(problem.get('message'))))
    return ('<header><h1>AI governance report</h1><div class="meta">generated %s &middot; audit log %s, '
            '%s entries (%s in the window) &middot; window %s to %s</div><p>%s</p></header>'
            % (esc(report['generated_at']), esc(log['path']), esc(log['entries']), esc(log['in_window']),
               esc(window['since'] or 'the first entry'), esc(window['until'] or 'the last entry'), status))


def _cards(kpis):
    cards = (('MTTR (median)', _seconds(kpis['mttr']['median_s']), '#1565c0'),
             ('MTTR (p90)', _seconds(kpis['mttr']['p90_s']), '#1565c0'),
             ('Automation rate', _percent(kpis['automation']['rate']), '#2e7d32'),
             ('Override rate', _percent(kpis['overrides']['rate']), '#ef6c00'),
             ('Exceptions', kpis['exceptions']['total'], '#6a1b9a'),
             ('Unremediated alerts', kpis['mttr']['unremediated'], '#c62828'))
    return '<section><div class="cards">%s</div></section>' % ''.join(
        '<div class="card" style="background:%s"><div class="n">%s</div>%s</div>' % (colour, esc(value), esc(label))
        for label, value, colour in cards)


def _table(title, rows, section_id):
    body = ''.join('<tr><td>%s</td><td class="num">%s</td></tr>' % (esc(name), esc(value)) for name, value in rows)
    return ('<section id="%s"><h2>%s</h2><table><tr><th>%s</th><th class="num">Value</th></tr>%s</table></section>'
            % (section_id, esc(title), esc('What'), body or '<tr><td colspan="2">none</td></tr>'))


def _breakdown(title, counts, section_id):
    return _table(title, sorted(counts.items()), section_id)


def _details(kpis):
    mttr, automation, overrides = kpis['mttr'], kpis['automation'], kpis['overrides']
    parts = [
        _table('Time to verified remediation', [
            ('incidents repaired', mttr['count']), ('median', _seconds(mttr['median_s'])),
            ('p90', _seconds(mttr['p90_s'])), ('mean', _seconds(mttr['mean_s'])), ('longest', _seconds(mttr['max_s'])),
            ('median of automated repairs', _seconds(mttr['by_decision']['automate']['median_s'])),
            ('automated repairs', mttr['by_decision']['automate']['count']),
            ('median of approved repairs (the approval wait included)', _seconds(mttr['by_decision']['review']['median_s'])),
            ('approved repairs', mttr['by_decision']['review']['count']),
            ('repairs without a recorded alert start', mttr['unmeasured']),
            ('incidents never remediated', mttr['unremediated'])]
            + [('never remediated, decision %s' % name, count) for name, count in sorted(mttr['unremediated_by_decision'].items())],
            'mttr'),
        _table('Decisions and automation', [
            ('automation rate', _percent(automation['rate'])), ('automate decisions that ran', automation['automated']),
            ('actionable decisions', automation['actionable'])]
            + [('%s decisions' % name, count) for name, count in automation['decisions'].items()], 'automation'),
        _table('Human overrides', [('override rate', _percent(overrides['rate'])), ('overrides', overrides['overrides']),
                                   ('human decisions', overrides['human_decisions'])]
               + [(name.replace('_', ' '), count) for name, count in overrides['by_kind'].items()], 'overrides'),
        _table('Exceptions', [(name.replace('_', ' '), count) for name, count in kpis['exceptions']['by_kind'].items()]
               + [('total', kpis['exceptions']['total'])], 'exceptions'),
        _table('Outcomes', [(name.replace('_', ' '), count) for name, count in kpis['outcomes'].items()], 'outcomes'),
        _breakdown('Actions per owner', kpis['actions']['by_owner'], 'actions-owner'),
        _breakdown('Actions per risk tier', kpis['actions']['by_risk_tier'], 'actions-tier'),
        _breakdown('Actions per remediation', kpis['actions']['by_remediation'], 'actions-remediation'),
        _table('Secret rotations', [('rotations', kpis['secret_rotations']['total']),
                                    ('failed', kpis['secret_rotations']['failed'])]
               + [('rotations, owner %s' % name, count)
                  for name, count in kpis['secret_rotations']['by_owner'].items()], 'rotations'),
        _table('Escalations', [('owners notified', kpis['escalations']['notified']),
                               ('notifications failed', kpis['escalations']['failed'])], 'escalations'),
        _table('Alert intake', [('alerts refused (unreadable)', kpis['intake']['refused_alerts']),
                                ('alerts the senders left out (truncatedAlerts)', kpis['intake']['truncated_alerts']),
                                ('events of unlisted types', kpis['intake']['ignored_events']),
                                ('requests refused for their credentials', kpis['intake']['refused_requests'])]
               + [('refused requests from %s' % source, count)
                  for source, count in kpis['intake']['refused_by_source'].items()], 'intake'),
    ]
    return ''.join(parts)


def _group_cells(kpis):
    return ''.join('<td class="num">%s</td>' % esc(value(kpis)) for _name, value in _GROUP_COLUMNS)


def _groups(report):
    if not report['group_by']:
        return ''
    heads = ''.join('<th class="num">%s</th>' % esc(name) for name, _value in _GROUP_COLUMNS)
    rows = ''.join('<tr><td>%s</td>%s</tr>' % (esc(key), _group_cells(kpis)) for key, kpis in report['groups'].items())
    return ('<section id="groups"><h2>Per %s</h2><table><tr><th>%s</th>%s</tr>%s</table></section>'
            % (esc(report['group_by'].replace('_', ' ')), esc(report['group_by']), heads,
               rows or '<tr><td colspan="11">none</td></tr>'))


def render_html(report):
    """The governance report as one HTML document (text)."""
    body = ''.join((_header(report), '<main>', _cards(report['kpis']), _groups(report), _details(report['kpis']),
                    '<section class="small">Definitions: docs/governance-report.md in the aigov.core collection.</section>',
                    '</main>'))
    return page('AI governance report %s' % report['generated_at'], body)

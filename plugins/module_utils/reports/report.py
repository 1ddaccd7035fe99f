# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance reports: one versioned document (schemas/compliance-report.v1.json)
and its renderers. Writing is atomic so a reader never sees half a report."""

from __future__ import annotations

import json

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks
from ansible_collections.aigov.core.plugins.module_utils.reports.report_html import render_html
from ansible_collections.aigov.core.plugins.module_utils.reports.report_junit import render_junit
from ansible_collections.aigov.core.plugins.module_utils.reports.report_sarif import render_sarif

REPORT_SCHEMA = 'aigov.core/compliance-report'
REPORT_SCHEMA_VERSION = 1


def build_report(check, generated_at, trend=None):
    """Build the report document from an ai_policy_check result.

    trend: this scan's history record and those before it, oldest first
    (report_history); left out of the document when None. When the check
    carries the framework catalogues it was validated against, the document
    holds them and the coverage matrix of its rules (frameworks.coverage).
    """
    document = {
        'schema': REPORT_SCHEMA,
        'schema_version': REPORT_SCHEMA_VERSION,
        'generated_at': generated_at,
        'summary': check['summary'],
        'scope': check['scope'],
        'policy_packs': check['policy_packs'],
        'registry': check['registry'],
        'rules': check['rules'],
        'findings': check['findings'],
        'assets': check['assets'],
    }
    if trend is not None:
        document['trend'] = trend
    if check.get('frameworks'):
        document['frameworks'] = check['frameworks']
        document['coverage'] = frameworks.coverage(check['frameworks'], check['rules'])
    return document


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + '\n'


def render_coverage(report):
    """The coverage matrix alone (schemas/framework-coverage.v1.json), for a compliance team's tooling."""
    document = {
        'schema': frameworks.COVERAGE_SCHEMA,
        'schema_version': frameworks.COVERAGE_SCHEMA_VERSION,
        'generated_at': report['generated_at'],
        'policy_packs': [dict((k, pack[k]) for k in ('name', 'version', 'sha256') if k in pack)
                         for pack in report.get('policy_packs', [])],
        'frameworks': report.get('coverage', []),
    }
    return json.dumps(document, indent=2, sort_keys=True) + '\n'


# format -> (file name, renderer of a report document)
RENDERERS = {
    'json': ('compliance-report.json', render_json),
    'junit': ('compliance-report.junit.xml', render_junit),
    'sarif': ('compliance-report.sarif', render_sarif),
    'html': ('compliance-report.html', render_html),
    'coverage': ('framework-coverage.json', render_coverage),
}

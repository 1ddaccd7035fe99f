"""The coverage matrix and the report's "By framework" section agree with the shipped catalogues."""

import json
import os

import jsonschema
import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks, policy
from ansible_collections.aigov.core.plugins.module_utils.reports import report, report_html, report_view

from tests.unit.plugins.module_utils import reportdata

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
SCHEMAS = os.path.join(ROOT, 'schemas')


def schema(name):
    with open(os.path.join(SCHEMAS, name)) as handle:
        return json.load(handle)


def catalogue_files():
    return frameworks.bundled_paths()


@pytest.mark.parametrize('path', catalogue_files(), ids=os.path.basename)
def test_each_bundled_catalogue_matches_its_schema_and_names_its_source(path):
    with open(path) as handle:
        data = yaml.safe_load(handle)
    jsonschema.validate(data, schema('framework-catalogue.v1.json'))
    assert data['source'].startswith('https://') and data['publication'] and data['version']


def test_the_catalogues_hold_each_framework_whole():
    counts = dict((key, len(c['controls'])) for key, c in frameworks.bundled().items())
    assert counts == {'nist-ai-rmf': 72, 'nist-csf-2.0': 106, 'owasp-llm-2025': 10, 'owasp-agentic-2026': 10,
                      'iso-42001': 38, 'eu-ai-act': 25}


def test_the_matrix_agrees_with_the_catalogue_and_the_rules():
    document = reportdata.document()
    catalogues = frameworks.bundled()
    assert [entry['framework'] for entry in document['coverage']] == sorted(catalogues)
    for entry in document['coverage']:
        catalogue = catalogues[entry['framework']]
        assert [(c['id'], c['title']) for c in entry['controls']] == [(c['id'], c['title']) for c in catalogue['controls']]
        assert (entry['version'], entry['source']) == (catalogue['version'], catalogue['source'])
        assert entry['covered'] == sum(1 for c in entry['controls'] if c['rules']) and entry['total'] == len(catalogue['controls'])
        assert entry['unknown_references'] == []
        by_id = dict((c['id'], c) for c in entry['controls'])
        for rule in document['rules']:
            for reference in rule['references'].get(entry['framework'], []):
                control = frameworks.resolve(catalogue, reference)[0]
                assert rule['rule_id'] in by_id[control['id']]['rules']
        cited = set(rule_id for c in entry['controls'] for rule_id in c['rules'])
        assert cited <= set(rule['rule_id'] for rule in document['rules'])


def test_by_framework_names_only_covered_catalogue_controls():
    document = reportdata.document()
    matrix = dict((entry['framework'], entry) for entry in document['coverage'])
    table = report_view.by_framework(document)
    assert table, 'the sample scan has unwaived findings'
    for framework, row in table.items():
        catalogue = frameworks.bundled()[framework]
        covered = dict((c['id'], c['rules']) for c in matrix[framework]['controls'])
        for reference in row['controls']:
            control, problem = frameworks.resolve(catalogue, reference)
            assert problem is None
            assert covered[control['id']], '%s %s is affected by a finding but not covered' % (framework, reference)


def test_the_coverage_file_matches_its_schema():
    document = reportdata.document()
    written = json.loads(report.render_coverage(document))
    jsonschema.validate(written, schema('framework-coverage.v1.json'))
    assert written['frameworks'] == document['coverage']


def test_the_html_shows_every_control_covered_or_not():
    document = reportdata.document()
    text = report_html.render_html(document)
    section = text[text.index('<section id="coverage">'):]
    section = section[:section.index('</section>')]
    for entry in document['coverage']:
        assert '%s %s: %d of %d covered' % (entry['name'], entry['version'], entry['covered'], entry['total']) in section
    rows = sum(entry['total'] for entry in document['coverage'])
    assert section.count('<tr class="covered">') + section.count('<tr class="uncovered">') == rows
    assert section.count('<tr class="uncovered">') == sum(e['total'] - e['covered'] for e in document['coverage'])
    assert 'href=' not in section  # sources are text: the page fetches nothing


def test_a_report_without_catalogues_has_no_coverage_section():
    result = reportdata.check()
    del result['frameworks']
    document = report.build_report(result, reportdata.GENERATED_AT)
    assert 'coverage' not in document and 'id="coverage"' not in report_html.render_html(document)


def test_a_pack_brings_its_own_catalogue(tmp_path):
    (tmp_path / 'internal.yml').write_text(yaml.safe_dump({
        'schema_version': 1, 'framework': 'corp-ai-controls', 'name': 'Corp AI controls', 'version': '3',
        'publication': 'Corp AI control standard v3', 'source': 'https://intranet.example/ai-controls',
        'controls': [{'id': 'CAI-7', 'title': 'Inference endpoints require authentication'},
                     {'id': 'CAI-8', 'title': 'Models come from the registry'}]}))
    rule = {'id': 'CORP-MS-001', 'title': 't', 'description': 'd', 'rationale': 'r', 'severity': 'low',
            'applies_to': "kind == 'model_server'", 'condition': "attributes.auth == 'configured'",
            'references': {'corp-ai-controls': ['CAI-7 Inference endpoints require authentication'],
                           'nist-csf-2.0': ['PR.AA-03']}}
    pack = {'schema_version': 1, 'name': 'corp', 'version': '1', 'catalogues': ['internal.yml'], 'rules': [rule]}
    (tmp_path / 'pack.yml').write_text(yaml.safe_dump(pack))
    packs = policy.load_packs([str(tmp_path / 'pack.yml')])
    _findings, rules = policy.evaluate(packs, [])
    matrix = dict((e['framework'], e) for e in frameworks.coverage(frameworks.public(policy.catalogues_of(packs)), rules))
    assert [c['rules'] for c in matrix['corp-ai-controls']['controls']] == [['CORP-MS-001'], []]

    rule['references']['corp-ai-controls'] = ['CAI-9']
    (tmp_path / 'pack.yml').write_text(yaml.safe_dump(pack))
    with pytest.raises(Exception, match="CORP-MS-001.*'CAI-9' is not in the Corp AI controls 3 catalogue"):
        policy.load_pack(str(tmp_path / 'pack.yml'))
    del pack['catalogues']
    rule['references']['corp-ai-controls'] = ['CAI-7']
    (tmp_path / 'pack.yml').write_text(yaml.safe_dump(pack))
    with pytest.raises(Exception, match="unknown framework 'corp-ai-controls'"):
        policy.load_pack(str(tmp_path / 'pack.yml'))


def test_a_pack_cannot_redefine_a_bundled_framework(tmp_path):
    (tmp_path / 'fake.yml').write_text(yaml.safe_dump({
        'schema_version': 1, 'framework': 'nist-csf-2.0', 'name': 'My CSF', 'version': '2.0', 'publication': 'p',
        'source': 's', 'controls': [{'id': 'PR.AA-99', 'title': 'Anything goes'}]}))
    rule = {'id': 'X-A-1', 'title': 't', 'description': 'd', 'rationale': 'r', 'severity': 'low', 'applies_to': 'kind',
            'condition': 'kind', 'references': {'nist-csf-2.0': ['PR.AA-99']}}
    pack = {'schema_version': 1, 'name': 'x', 'version': '1', 'catalogues': ['fake.yml'], 'rules': [rule]}
    (tmp_path / 'pack.yml').write_text(yaml.safe_dump(pack))
    with pytest.raises(Exception, match="framework 'nist-csf-2.0' is already defined by"):
        policy.load_pack(str(tmp_path / 'pack.yml'))


def test_a_catalogue_without_its_source_is_refused(tmp_path):
    (tmp_path / 'c.yml').write_text(yaml.safe_dump({'schema_version': 1, 'framework': 'x', 'name': 'X', 'version': '1',
                                                    'controls': [{'id': 'X-1', 'title': 'T'}, {'id': 'X-1', 'title': 'U'}]}))
    with pytest.raises(Exception) as caught:
        frameworks.load_catalogue(str(tmp_path / 'c.yml'))
    text = str(caught.value)
    assert 'publication must be' in text and 'source must be' in text and 'duplicate id' in text


def test_coverage_lines_say_what_is_not_covered():
    lines = frameworks.coverage_lines(reportdata.document()['coverage'])
    assert any(line.startswith('owasp-llm-2025 (OWASP Top 10 for LLM Applications 2025): ') for line in lines)
    assert any(line.startswith('  not covered: ') and 'LLM01:2025' in line for line in lines)

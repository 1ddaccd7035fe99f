"""docs/discovery.md's table of what each product is recognised by is the one generated from the signature tables
(hack/discovery_signatures.py): a row added, removed or changed in the code fails here until the docs are regenerated."""

import os
import runpy

from tests.conftest import ROOT

GENERATOR = runpy.run_path(os.path.join(ROOT, 'hack', 'discovery_signatures.py'))


def test_the_docs_table_is_generated_from_the_signature_tables():
    with open(os.path.join(ROOT, 'docs', 'discovery.md')) as handle:
        documented = GENERATOR['in_doc'](handle.read())
    assert documented is not None, 'docs/discovery.md lost its generated-signatures markers'
    assert documented == GENERATOR['table'](), 'regenerate: .venv/bin/python hack/discovery_signatures.py --write'


def test_every_signature_has_a_row():
    from ansible_collections.aigov.core.plugins.module_utils.discovery import agents, model_servers, vector_dbs
    rows = GENERATOR['table']().splitlines()[2:]
    assert len(rows) == len(model_servers.SIGNATURES) + len(vector_dbs.VECTOR_DB_SIGNATURES) + len(agents.AGENT_SIGNATURES)
    assert any('(`ollama`) | program `ollama` followed by `serve`' in row for row in rows)

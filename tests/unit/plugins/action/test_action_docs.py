"""The documentation of action-plugin modules matches their argument spec.

ansible-test's validate-modules compares docs and argspec only for modules
that build an AnsibleModule; these run on the controller, so it is done here.
Options from the collection's doc fragments count as documented. An option that
names a shared file (plugin_utils.action.SHARED_PATHS) gets its default from
module_utils.common.paths, so its documented default is that one.
"""

import importlib

import pytest
import yaml

from ansible_collections.aigov.core.plugins.plugin_utils.action import SHARED_PATHS

ACTIONS = ['agent_credential', 'agent_secret', 'agent_secret_findings', 'agent_secret_lock', 'ai_asset_store',
           'ai_bom', 'ai_policy_check', 'ai_report', 'approval_queue', 'audit_append', 'audit_verify',
           'decision_verify', 'governance_report', 'remediation_plan']


def documented_options(docs):
    options = dict(docs['options'])
    for fragment in docs.get('extends_documentation_fragment', []):
        name = fragment.split('.')[2]
        variant = fragment.split('.')[3].upper() if fragment.count('.') > 2 else 'DOCUMENTATION'
        module = importlib.import_module('ansible_collections.aigov.core.plugins.doc_fragments.%s' % name)
        options.update(yaml.safe_load(getattr(module.ModuleDocFragment, variant)).get('options') or {})
    return options


@pytest.mark.parametrize('name', ACTIONS)
def test_docs_match_argument_spec(name):
    action = importlib.import_module('ansible_collections.aigov.core.plugins.action.%s' % name).ActionModule
    spec = action.ARGUMENT_SPEC
    shared = dict(SHARED_PATHS, **action.SHARED_PATHS)
    docs = yaml.safe_load(importlib.import_module('ansible_collections.aigov.core.plugins.modules.%s' % name).DOCUMENTATION)
    options = documented_options(docs)
    assert sorted(options) == sorted(spec)
    for option, rules in spec.items():
        doc = options[option]
        assert doc['type'] == rules['type'], option
        assert doc.get('elements') == rules.get('elements'), option
        assert doc.get('default') == (shared[option].default if option in shared else rules.get('default')), option
        if option in shared and shared[option].env:
            description = doc['description'] if isinstance(doc['description'], str) else ' '.join(doc['description'])
            assert 'E(%s)' % shared[option].env in description, option
        assert doc.get('choices') == rules.get('choices'), option
        assert bool(doc.get('required')) == bool(rules.get('required')), option

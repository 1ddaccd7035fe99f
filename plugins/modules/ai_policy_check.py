#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/ai_policy_check.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_policy_check
short_description: Evaluate AI policy packs against discovered AI assets
version_added: 0.1.0
description:
  - Evaluates one or more policy packs (YAML data with JMESPath conditions) against AI assets
    and returns the findings, a summary by severity and per-rule results.
  - Runs on the controller. Assets are read from the C(ai_assets) facts that
    M(aigov.core.ai_asset_facts) set on each host in O(hosts), from an asset store (O(store)),
    or given in O(assets).
  - Each asset is first matched against the registry of AI use cases; the match
    (registered or shadow AI, use case, risk tier, owners) is added to the asset as
    C(registry), where policy expressions can see it.
  - Each asset whose host has the variable C(aigov_region) gets it as C(region), the observed
    region that data-residency rules compare with the use case's C(allowed_regions).
  - Every pack, exceptions file, parameter and the registry are validated in full before any asset
    is evaluated. A broken file fails the task with the file, the rule id or index and the exact problem.
  - A finding covered by an active waiver (exception) is returned with C(waived=true) and its
    C(waiver); it does not count in C(summary.findings) nor for O(fail_on). An expired waiver no
    longer waives; it is listed in RV(waivers) with C(status=expired).
  - Hosts that were targeted but have no discovery result (unreachable, failed) are listed in
    C(scope.hosts_missing) and make C(summary.complete) false; they are never counted as compliant.
author:
  - aigov.core maintainers (@aigov)
options:
  assets:
    description:
      - Asset records to evaluate (schema C(asset.v1.json)).
      - Mutually exclusive with O(hosts) and O(store).
    type: list
    elements: dict
  hosts:
    description:
      - Inventory hosts whose C(ai_assets) facts are evaluated.
      - Defaults to every host in the inventory when neither O(assets) nor O(store) is given.
      - Mutually exclusive with O(assets) and O(store).
    type: list
    elements: str
  store:
    description:
      - Path of an asset store (SQLite file written by M(aigov.core.ai_asset_store)) whose current
        assets are evaluated, relative to the current directory (docs/architecture.md, "Paths"). No host needs to be contacted.
      - Mutually exclusive with O(assets) and O(hosts).
    type: path
  parameters:
    description:
      - "Values for pack parameters (a pack's C(parameters) block, read by rules as C(param('name'))),
        for example C({credential_max_age_days: 30})."
      - Each name must be declared by a loaded pack and the value must have the type of its default.
    type: dict
    default: {}
  exceptions:
    description:
      - Exceptions files (waivers), relative to the current directory (docs/architecture.md, "Paths"), in addition to the
        C(exceptions) lists inside the packs. Format in C(docs/policy-packs.md).
      - Each waiver must name a rule of a loaded pack.
    type: list
    elements: path
    default: []
  policy_packs:
    description:
      - Policy packs to evaluate. Each item is the name of a pack shipped with the
        collection (C(default)) or the path of a pack file, relative to the current directory (docs/architecture.md, "Paths").
      - Rule ids must be unique across all packs.
    type: list
    elements: str
    default: [default]
  registry:
    description:
      - The registry of AI use cases, owners and risk tiers. The name of a registry shipped with
        the collection (C(default)) or the path of a registry file.
    type: str
    default: default
  fail_on:
    description:
      - Fail the task when an unwaived finding of this severity or higher exists. C(none) never fails.
    type: str
    choices: [none, info, low, medium, high, critical]
    default: none
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
notes:
  - Requires the C(jmespath) Python library on the controller.
  - Findings follow C(schemas/finding.v1.json) in the collection.
seealso:
  - module: aigov.core.ai_asset_facts
  - module: aigov.core.ai_report
"""

EXAMPLES = r"""
- name: Evaluate the bundled baseline against every scanned host
  aigov.core.ai_policy_check:
  register: aigov_check

- name: Use your own packs and registry, fail on high findings
  aigov.core.ai_policy_check:
    hosts: "{{ groups['gpu_nodes'] }}"
    policy_packs:
      - default
      - policies/site-rules.yml
    registry: registry/ai-use-cases.yml
    fail_on: high

- name: Evaluate the asset store with waivers and a stricter key age, without contacting hosts
  aigov.core.ai_policy_check:
    store: aigov-data/assets.sqlite3
    exceptions:
      - policies/exceptions.yml
    parameters:
      credential_max_age_days: 30

- name: Evaluate assets from another source
  aigov.core.ai_policy_check:
    assets: "{{ lookup('ansible.builtin.file', 'assets.json') | from_json }}"
"""

RETURN = r"""
findings:
  description: One record per asset that a rule applies to and that fails the rule's condition.
  returned: always
  type: list
  elements: dict
  sample:
    - schema_version: 1
      id: 9f86d081884c7d65
      rule_id: AIGOV-MS-001
      title: Model server reachable from the network without authentication
      severity: high
      pack: default
      asset_id: "model_server:5d41402abc4b2a76"
      asset_kind: model_server
      asset_name: vllm
      host: gpu-node-1
      inventory_hostname: gpu-node-1.example.com
      references: {owasp-llm-2025: ["LLM10:2025"]}
      rationale: An inference API without authentication lets anyone on the network use the model.
      remediation: {id: bind_loopback, automatable: true, disruptive: true}
      evidence: [{type: socket, pid: 4242, address: 0.0.0.0, port: 8000}]
      registry: {registered: false, use_case: null, use_case_name: null, risk_tier: null, owners: {}}
      waived: false
      waiver: null
summary:
  description: Counts of assets and findings.
  returned: always
  type: dict
  contains:
    assets:
      description: Number of assets evaluated.
      type: int
      returned: always
    findings:
      description: Number of unwaived findings.
      type: int
      returned: always
    by_severity:
      description: Unwaived findings per severity.
      type: dict
      returned: always
    waived:
      description: Number of findings covered by an active waiver (not counted in O(fail_on) or C(findings)).
      type: int
      returned: always
    waivers_expired:
      description: Number of waivers whose expiry date has passed (they no longer waive anything).
      type: int
      returned: always
    compliant:
      description: True when there is no unwaived finding.
      type: bool
      returned: always
    complete:
      description: True when every targeted host returned a discovery result.
      type: bool
      returned: always
    hosts_scanned:
      description: Number of hosts with a discovery result.
      type: int
      returned: always
    hosts_missing:
      description: Number of targeted hosts without a discovery result.
      type: int
      returned: always
    fail_on:
      description: The O(fail_on) threshold, or null.
      type: str
      returned: always
    threshold_exceeded:
      description: True when a finding reaches O(fail_on).
      type: bool
      returned: always
waivers:
  description: Every waiver loaded, with its C(status) (C(active) or C(expired)), its C(source)
    (file and index) and the number of C(findings) it names.
  returned: always
  type: list
  elements: dict
  sample:
    - rule: AIGOV-MS-001
      owner: ml-platform
      reason: Behind the cluster ingress with mTLS
      expires: "2026-12-31"
      source: "policies/exceptions.yml#exceptions[0]"
      status: active
      findings: 2
rules:
  description:
    - Per rule, how many assets it applied to (C(applied)), how many failed it (C(failed)) and how many of
      those were waived (C(waived)), the ids of the assets that passed it (C(passed_assets), the passing test
      cases of the JUnit report), and the rule's C(title), C(severity), C(references), C(description),
      C(rationale) and C(remediation).
  returned: always
  type: list
  elements: dict
scope:
  description: Which hosts were targeted, scanned and missing, and the discovery problems per host.
  returned: always
  type: dict
assets:
  description: The evaluated assets, each with its C(inventory_hostname) and C(registry) match.
  returned: always
  type: list
  elements: dict
policy_packs:
  description: Name, version, path, sha256 and effective parameters of each pack evaluated.
  returned: always
  type: list
  elements: dict
registry:
  description: Path, sha256 and number of use cases of the registry used.
  returned: always
  type: dict
model_signers:
  description:
    - The registry's C(model_signers) (public keys, CA certificates, Sigstore identities; docs/model-provenance.md),
      as M(aigov.core.ai_asset_facts) takes them in O(aigov.core.ai_asset_facts#module:model_signers); the
      C(aigov.core.compliance_scan) playbook hands them to discovery.
  returned: always
  type: list
  elements: dict
frameworks:
  description:
    - The framework catalogues every rule reference was checked against (the bundled ones in
      C(frameworks/) and those the packs bring), each with C(framework), C(name), C(version),
      C(publication), C(source), C(scope) and its C(controls) (C(id), C(title), C(group)).
    - M(aigov.core.ai_report) turns them and the rules into the framework coverage matrix.
  returned: always
  type: list
  elements: dict
"""

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_asset_facts
short_description: Discover the AI assets running on a host
version_added: 0.1.0
description:
  - Runs on each managed host and reports the AI assets it finds as C(ansible_facts.ai_assets).
  - The C(model_server) probe recognises model-serving processes (vLLM, Ollama, Text Generation
    Inference, Triton, llama.cpp, TorchServe, LocalAI, LM Studio, MLflow, Ray Serve, KServe,
    LiteLLM, SGLang, NVIDIA NIM, LMDeploy, TensorRT-LLM, ...) from their command line in C(/proc), maps them
    to their listening TCP sockets (IPv4 and IPv6), and reports the bind addresses, the served model, whether
    authentication is configured and which development modes are on.
  - Each server's C(version) is read without running anything, with C(version_source) saying where from
    (C(package-metadata:<path>), C(env:<variable>) or C(http:<path>)). For Python servers it is the version in
    the C(*.dist-info) or C(*.egg-info) of the site-packages the process imports from (its interpreter's prefix,
    virtualenv, C(PYTHONPATH)), read through C(/proc/<pid>/root) for a process in a container; for a binary,
    only a variable its image sets for the purpose (Triton's C(TRITON_SERVER_VERSION)). With O(http_probe)
    the running server's own answer wins.
  - The C(vector_db) probe recognises vector databases (Qdrant, Milvus, Chroma, Weaviate, PostgreSQL with
    the pgvector extension) the same way, with their listening sockets and whether authentication is configured.
  - The C(model_artifact) probe finds model files under O(artifact_roots), recognised by content
    (GGUF, safetensors, ONNX, PyTorch zip or legacy pickle, raw pickle/joblib, Keras, HDF5), with
    size, sha256, mode and owner. Pickle-based files are scanned opcode by opcode, never loaded,
    for imports that run code when the file is loaded (C(os.system), C(subprocess), C(builtins.eval), ...).
    Digests are cached by device, inode, size, modification and change time, and hashing stops at
    O(hash_budget), also in the middle of a file.
  - Each model file's provenance is in C(attributes.signature) (docs/model-provenance.md). An OpenSSF model signature
    (the C(model-signing) v1 format) beside it (C(FILE.sig)) or in its model directory (C(model.sig), covering every file
    of the directory) is verified on the host against O(model_signers), as C(signed) (with the signer), C(invalid) (with
    C(reasons), e.g. C(file_changed), C(file_added), C(untrusted_signer)), C(unsigned), or C(unverified) with a problem
    saying why (a keyless Sigstore signature needs Sigstore's network services; the budget ran out). The files' digests
    come from the same hash cache and budget; no model is loaded.
  - The C(credential) probe finds AI-provider credentials (OpenAI, Anthropic, Hugging Face, Gemini,
    Cohere, Mistral, ... keys and tokens) in process environments, C(--api-key) style arguments,
    C(.env) files, Hugging Face token files and MCP client configs, and reports each by an HMAC fingerprint, its
    location, source and age. The value itself is never returned, logged or stored.
  - The C(ai_package) probe lists AI SDKs, agent frameworks and runtimes (torch, transformers, vllm,
    langchain, llama-index, openai, anthropic, crewai, mcp, chromadb, ...) installed in system Python
    and in virtualenvs found under O(venv_roots), from their package metadata folders; nothing is imported.
  - The C(gpu) probe reports NVIDIA GPUs through C(nvidia-smi --query-gpu) and C(--query-compute-apps)
    (model, memory, driver, UUID, PCI bus, processes using it) when it is installed, else the NVIDIA
    driver files in C(/proc/driver/nvidia), and AMD GPUs from C(/sys/class/drm).
  - The C(mcp_server) probe reports the MCP servers configured in AI clients (Claude Desktop, Claude Code,
    Cursor, VS Code, Windsurf, Gemini CLI) in every user's home, and in any other file named in
    O(mcp_config_files), with their command or URL, the names of
    their environment variables, and literal secrets in C(env) or headers by fingerprint. Malformed
    config files are skipped with a warning naming them. The same probe also reports MCP servers running as
    processes (C(npx @modelcontextprotocol/server-*), C(uvx mcp-server-*), C(python -m mcp_server_*),
    C(*-mcp-server)) as C(mcp_server) assets with C(running=true), their transport (C(http) when listening,
    else C(stdio)), redacted command line and the names of the credentials in their environment; configured
    servers have C(running=false).
  - The C(agent) probe reports agent runtimes running as processes (LangGraph C(dev)/C(up), CrewAI C(run),
    AutoGen Studio, Open Interpreter, OpenHands, Letta server, Flowise) with framework, version, redacted
    command line, user, listeners and the names, never the values, of the credentials in their environment.
  - Secret values are never reported; command lines are redacted before they are stored.
  - What users control on the host cannot crash or hang the module. Files are opened without blocking and
    only when they are regular files, every read and parser is bounded (size, JSON nesting, zip entries,
    pickle bytes and opcodes), and each file, HTTP answer and probe that goes wrong becomes a problem in
    C(ai_discovery.problems) naming it.
  - Runs without root. What a non-root user cannot see (other users' sockets and environments)
    is reported in C(ai_discovery.problems) and as warnings, and the asset's C(confidence) is
    C(unresolved); the module does not fail for it.
author:
  - aigov.core maintainers (@aigov)
options:
  probes:
    description:
      - Which kinds of AI asset to look for.
    type: list
    elements: str
    choices: [model_server, vector_db, model_artifact, credential, ai_package, gpu, mcp_server, agent]
    default: [model_server, vector_db, model_artifact, credential, ai_package, gpu, mcp_server, agent]
  proc_root:
    description:
      - Path of the proc filesystem to read. Change it only to inspect a copy or a
        bind-mounted C(/proc) of another system.
    type: path
    default: /proc
  artifact_roots:
    description:
      - Directories searched for model files by the C(model_artifact) probe. A path starting with
        C(~/) is searched under every user's home directory. Roots that do not exist are skipped.
    type: list
    elements: str
    default: [/models, /opt/models, /srv/models, ~/.cache/huggingface/hub, ~/.ollama/models, /usr/share/ollama/.ollama/models]
  hash_cache:
    description:
      - File on the managed host that remembers digests by device, inode, size and modification time.
      - Defaults to C(/var/cache/aigov/model-hashes.json) for root and C(~/.cache/aigov/model-hashes.json) otherwise.
      - Not written in check mode.
    type: path
  hash_budget:
    description:
      - Seconds spent hashing files not in the cache. Files left over are reported with a null
        C(sha256) and hashed by the next run.
    type: int
    default: 60
  max_files:
    description:
      - Stop looking at files under O(artifact_roots) after this many.
    type: int
    default: 10000
  model_signers:
    description:
      - The signers whose OpenSSF model signatures are trusted (public data; in a registry, its C(model_signers)).
      - Each has a O(model_signers[].name) and exactly one of O(model_signers[].public_key),
        O(model_signers[].certificates) or O(model_signers[].identity) with O(model_signers[].oidc_issuer).
      - With none, a signature found is still compared with the files, and reported C(unverified) when they match.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The signer's name, as reports and the registry's C(trusted_signers) name it.
        type: str
        required: true
      public_key:
        description: PEM of the elliptic curve public key of a key pair signer (C(model_signing sign key)).
        type: str
      certificates:
        description: PEM of the CA certificate(s) a certificate signer's signing certificate chains to
          (C(model_signing sign certificate)).
        type: str
      identity:
        description: The Sigstore identity (e-mail or URI) of a keyless signer.
        type: str
      oidc_issuer:
        description: The OIDC issuer of O(model_signers[].identity).
        type: str
  credential_files:
    description:
      - Glob patterns of dotenv/shell files searched for AI-provider variables by the C(credential)
        probe. A pattern starting with C(~/) is searched under every user's home directory.
    type: list
    elements: str
    default: [~/.env, ~/*/.env, /opt/*/.env, /opt/*/*/.env, /srv/*/.env, /etc/*.env]
  mcp_config_files:
    description:
      - Glob patterns of MCP client configuration files read by the C(mcp_server) probe (servers) and the
        C(credential) probe (literal secrets in them). A pattern starting with C(~/) is searched under every
        user's home directory. Setting it replaces the default, so list the defaults too to add a path.
      - Each file is read as the other files of users are (regular files only, a symlink its user controls is not
        followed, size and JSON nesting bounded). The asset's C(client) is the client whose well-known file it is
        (C(.cursor/mcp.json) in any directory is C(cursor)), else C(other).
    type: list
    elements: str
    default: [~/.config/Claude/claude_desktop_config.json, ~/.claude.json, ~/.cursor/mcp.json, ~/.vscode/mcp.json,
              ~/.config/Code/User/mcp.json, ~/.codeium/windsurf/mcp_config.json, ~/.gemini/settings.json]
  scan_processes:
    description:
      - Look at running processes. With C(false) the module looks at files only (a copied home directory, an image
        mounted for inspection, the collection's demo estate); the C(credential) probe skips process environments
        and command lines, the C(mcp_server) probe skips running MCP servers, and the C(model_server),
        C(vector_db) and C(agent) probes, which only look at processes, find nothing.
    type: bool
    default: true
  venv_roots:
    description:
      - Directories searched (three levels deep) for virtualenvs (a C(pyvenv.cfg)) by the C(ai_package)
        probe. A path starting with C(~/) is searched under every user's home directory.
      - System Python site-packages and dist-packages are always looked at.
    type: list
    elements: str
    default: [/opt, /srv, /usr/local, '~']
  nvidia_smi:
    description:
      - Path of C(nvidia-smi). By default it is looked for on C(PATH) and in the usual driver directories.
      - It is run only where root alone can change it (the file and every directory above it owned by root and
        writable by no one else); one that another user could change is reported as a problem and not run.
    type: path
  sys_root:
    description:
      - Path of the sysfs tree read by the C(gpu) probe for AMD GPUs.
    type: path
    default: /sys
  fingerprint_key:
    description:
      - Key of the HMAC that fingerprints credentials. The same key gives the same fingerprint for the
        same credential on every host, which is how a key shared by several agents is found.
      - Defaults to a public constant; set a site secret to make fingerprints meaningless outside your estate.
    type: str
  http_probe:
    description:
      - Ask each model server found by the C(model_server) probe, on this host only, what it serves. Off by default.
      - Only read-only endpoints known for the product are requested (C(GET /v1/models), C(/api/tags), C(/api/version),
        C(/version), C(/info), C(/v2), C(/v2/health/ready), TorchServe C(/models)), at most 6 requests per server,
        without any credential, over plain HTTP to C(127.0.0.1)/C(::1) or to the bound address when it is one of
        this host's own addresses, and only for servers in the module's own network namespace.
      - Records the models listed, the version, and C(auth_observed) in the asset's C(http) attribute.
        C(auth_observed) is C(required) when a model-listing endpoint answers 401 or 403, C(not_required) when one
        answers 200 without credentials, else C(unknown); a public health endpoint proves nothing.
      - A request that fails or times out is reported in C(ai_discovery.problems), never as a failure.
        The probe also runs in check mode, as it only reads.
    type: bool
    default: false
  http_timeout:
    description:
      - Seconds for each request of O(http_probe), from connecting to the end of the answer (a server that
        drips its answer is cut off at the same time), more than 0 and at most 30.
      - All the HTTP requests of one run stop being sent after half of O(probe_timeout).
    type: float
    default: 2.0
  probe_timeout:
    description:
      - Seconds each probe may run (the C(model_artifact) probe gets O(hash_budget) on top). A probe that runs
        longer, or fails on something on the host, is reported in C(ai_discovery.problems) without its assets;
        the other probes and the module go on. See the collection's C(docs/discovery.md) for every limit.
    type: int
    default: 120
  container_context:
    description:
      - Report the container each model server and vector database runs in (podman, Docker, containerd or CRI-O,
        found from the process's cgroup) as its C(container) attribute - runtime, id, name, image and image digest,
        labels (with the Kubernetes pod, namespace and container), network mode, published ports and mounts - as the
        runtime's own CLI (C(inspect), read-only) says, asked once per run for all containers, from C(/usr/bin) or
        C(/usr/local/bin) only when root alone can change it. A runtime that cannot be asked is a problem in
        C(ai_discovery.problems); the server is still reported, with only the runtime and id.
      - With it, a containerised server is C(exposed) only through a port published on a non-loopback host address,
        or when it uses host networking; C(exposed_by) names each mapping or listener. The HTTP probe asks the published
        host port of a server whose network namespace is not the module's. Model files under the host directories
        mounted into serving containers are found by the C(model_artifact) probe and name the containers
        (C(containers)); a server whose version its files do not give takes the image's version label or tag.
      - Rootless containers (a user's) are reported with runtime and id only; the user's runtime is not asked.
    type: bool
    default: true
  container_timeout:
    description:
      - Seconds each runtime CLI call of O(container_context) may take before it is ended and reported as a problem.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
  facts:
    support: full
    description: Sets C(ai_assets) and C(ai_discovery).
  platform:
    support: full
    platforms: linux
    description: Reads the Linux proc filesystem.
notes:
  - Each asset follows the versioned contract in C(schemas/asset.v1.json) of the collection.
  - Asset ids are stable across runs; they are derived from the host name, machine id, product
    and the lowest listening port (or the served model and executable when not listening).
seealso:
  - module: aigov.core.ai_policy_check
  - module: aigov.core.ai_report
"""

EXAMPLES = r"""
- name: Discover model servers on every host
  aigov.core.ai_asset_facts:

- name: List exposed model servers
  ansible.builtin.debug:
    msg: "{{ ansible_facts.ai_assets | selectattr('attributes.exposed') | map(attribute='name') | list }}"

- name: Inspect a bind-mounted /proc of another system
  aigov.core.ai_asset_facts:
    probes: [model_server]
    proc_root: /host/proc

- name: Ask model servers on each host what they serve and whether they require a key
  aigov.core.ai_asset_facts:
    probes: [model_server]
    http_probe: true
    http_timeout: 1.5

- name: Model servers that answered a model listing without credentials
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.ai_assets | selectattr('kind', 'eq', 'model_server') | selectattr('attributes.http')
         | selectattr('attributes.http.auth_observed', 'eq', 'not_required') | map(attribute='name') }}

- name: Look for model files in a data volume too, hashing for at most 5 minutes
  aigov.core.ai_asset_facts:
    probes: [model_artifact]
    artifact_roots: [/models, /data/ml]
    hash_budget: 300

- name: Read a team's shared MCP client config too, files only (no process is looked at)
  aigov.core.ai_asset_facts:
    probes: [mcp_server, credential]
    mcp_config_files: [~/.cursor/mcp.json, ~/.claude.json, /srv/team/*/mcp.json]
    credential_files: [/srv/team/*/.env]
    scan_processes: false

- name: Verify the signatures of model files against the release key
  aigov.core.ai_asset_facts:
    probes: [model_artifact]
    model_signers:
      - name: ml-release
        public_key: "{{ lookup('ansible.builtin.file', 'keys/ml-release.pub') }}"

- name: Model files whose signature is not valid
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.ai_assets | selectattr('kind', 'eq', 'model_artifact')
         | selectattr('attributes.signature.status', 'eq', 'invalid') | map(attribute='attributes.path') }}

- name: Model files that run code when loaded
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.ai_assets | selectattr('kind', 'eq', 'model_artifact')
         | selectattr('attributes.executes_code_on_load') | map(attribute='attributes.path') }}
"""

RETURN = r"""
ansible_facts:
  description: Facts set by the module.
  returned: always
  type: dict
  contains:
    ai_assets:
      description: The assets found, one record each (schema C(asset.v1.json)).
      returned: always
      type: list
      elements: dict
      sample:
        - schema_version: 1
          id: "model_server:5d41402abc4b2a76"
          kind: model_server
          name: vllm
          host: gpu-node-1
          confidence: inferred
          attributes:
            product: vllm
            product_name: vLLM
            model: meta-llama/Llama-3.1-8B-Instruct
            listeners: [{address: 0.0.0.0, port: 8000, loopback: false}]
            exposed: true
            auth: none
            auth_evidence: no authentication flag or variable configured
            dev_mode: []
            uid: 1001
            executable: /usr/bin/python3.11
            cmdline: [python3, -m, vllm.entrypoints.openai.api_server, --model, meta-llama/Llama-3.1-8B-Instruct]
            pids: [4242]
            version: 0.6.3
            version_source: package-metadata:/opt/vllm/lib/python3.11/site-packages/vllm-0.6.3.dist-info
            http: null
          evidence:
            - {type: process, pid: 4242, uid: 1001}
            - {type: socket, pid: 4242, address: 0.0.0.0, port: 8000}
    ai_discovery:
      description: How the discovery ran on this host.
      returned: always
      type: dict
      contains:
        host:
          description: The host's own host name.
          type: str
          returned: always
        probes:
          description: The probes that ran.
          type: list
          elements: str
          returned: always
        problems:
          description: What could not be seen and why (permissions, vanished processes, failed HTTP probe requests).
          type: list
          elements: str
          returned: always
        asset_count:
          description: Number of assets found.
          type: int
          returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aigov.core.plugins.module_utils.discovery.artifact_discovery import DEFAULT_ROOTS
from ansible_collections.aigov.core.plugins.module_utils.store.assets import host_identity
from ansible_collections.aigov.core.plugins.module_utils.discovery.credentials import DEFAULT_FILES
from ansible_collections.aigov.core.plugins.module_utils.discovery.mcp_discovery import DEFAULT_MCP_CONFIGS
from ansible_collections.aigov.core.plugins.module_utils.discovery.package_discovery import DEFAULT_VENV_ROOTS
from ansible_collections.aigov.core.plugins.module_utils.provenance.signers import parse_signers
from ansible_collections.aigov.core.plugins.module_utils.discovery.probes import PROBE_NAMES, PROBE_TIMEOUT, default_hash_cache, run_probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            probes=dict(type='list', elements='str', choices=list(PROBE_NAMES), default=list(PROBE_NAMES)),
            proc_root=dict(type='path', default='/proc'),
            artifact_roots=dict(type='list', elements='str', default=list(DEFAULT_ROOTS)),
            hash_cache=dict(type='path'),
            hash_budget=dict(type='int', default=60),
            max_files=dict(type='int', default=10000),
            model_signers=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                public_key=dict(type='str', no_log=False),
                certificates=dict(type='str'),
                identity=dict(type='str'),
                oidc_issuer=dict(type='str'),
            )),
            credential_files=dict(type='list', elements='str', default=list(DEFAULT_FILES)),
            mcp_config_files=dict(type='list', elements='str', default=list(DEFAULT_MCP_CONFIGS)),
            scan_processes=dict(type='bool', default=True),
            venv_roots=dict(type='list', elements='str', default=list(DEFAULT_VENV_ROOTS)),
            nvidia_smi=dict(type='path'),
            sys_root=dict(type='path', default='/sys'),
            fingerprint_key=dict(type='str', no_log=True),
            http_probe=dict(type='bool', default=False),
            http_timeout=dict(type='float', default=2.0),
            probe_timeout=dict(type='int', default=PROBE_TIMEOUT),
            container_context=dict(type='bool', default=True),
            container_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    proc_root = module.params['proc_root']
    if not os.path.isdir(proc_root) or not os.access(proc_root, os.R_OK | os.X_OK):
        module.fail_json(msg="proc_root '%s' is not a readable directory; point it at a mounted proc filesystem" % proc_root)
    if not os.path.isdir(os.path.join(proc_root, 'self')) and not os.path.isdir(os.path.join(proc_root, '1')):
        module.fail_json(msg="proc_root '%s' does not look like a proc filesystem (no 'self' or '1' entry)" % proc_root)

    if module.params['probe_timeout'] <= 0:
        module.fail_json(msg='probe_timeout must be more than 0 seconds, got %s' % module.params['probe_timeout'])
    if not 0 < module.params['http_timeout'] <= 30:
        module.fail_json(msg='http_timeout must be more than 0 and at most 30 seconds, got %s' % module.params['http_timeout'])
    if module.params['container_timeout'] <= 0:
        module.fail_json(msg='container_timeout must be more than 0 seconds, got %s' % module.params['container_timeout'])
    try:
        parse_signers(module.params['model_signers'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    options = dict(module.params, check_mode=module.check_mode)
    options['hash_cache'] = options['hash_cache'] or default_hash_cache()
    host, machine_id = host_identity()
    assets, problems = [], []
    for probe in module.params['probes']:
        found, seen_problems = run_probe(probe, options, host, machine_id)
        assets.extend(found)
        problems.extend(seen_problems)
    for problem in problems:
        module.warn(problem)
    module.exit_json(changed=False, ansible_facts=dict(
        ai_assets=assets,
        ai_discovery=dict(host=host, probes=module.params['probes'], problems=problems, asset_count=len(assets)),
    ))


if __name__ == '__main__':
    main()

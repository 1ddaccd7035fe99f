# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Secret backend and authentication options of agent_secret (module and lookup).

    Kept equal to plugins/module_utils/secrets/_secret_backend_options.py (ARGSPEC, ENV) by a unit test.
    """

    DOCUMENTATION = r"""
options:
  backend:
    description:
      - Where the secret is kept.
      - C(vault) is the KV version 2 secrets engine of OpenBao or HashiCorp Vault, over its HTTP API.
      - C(file) is one JSON file per secret under O(file_dir) on the controller (mode 0600, atomic writes,
        the last 10 versions kept), for a single control node.
    type: str
    choices: [file, vault]
    default: vault
  url:
    description:
      - Address of the OpenBao or Vault server, C(https://host:port). Required with O(backend=vault).
      - Must not contain credentials.
      - The environment variables E(BAO_ADDR), then E(VAULT_ADDR), are used when the option is not set.
    type: str
  namespace:
    description:
      - Namespace sent as C(X-Vault-Namespace) with every request, login included.
      - The environment variables E(BAO_NAMESPACE), then E(VAULT_NAMESPACE), are used when the option is not set.
    type: str
  mount_point:
    description:
      - Mount point of the KV version 2 secrets engine.
    type: str
    default: secret
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for a throwaway test server.
    type: bool
    default: true
  ca_cert:
    description:
      - CA bundle (PEM file) to verify the server's certificate with, instead of the system's.
      - The environment variables E(BAO_CACERT), then E(VAULT_CACERT), are used when the option is not set.
    type: path
  timeout:
    description:
      - Seconds to wait for the server to answer a request.
    type: int
    default: 10
  file_dir:
    description:
      - Directory of the C(file) backend; created with mode 0700 when missing. A relative path is relative
        to the current directory.
      - The environment variable E(AIGOV_SECRET_DIR) is used when the option is not set.
    type: path
    default: aigov-data/secrets
  auth_method:
    description:
      - How to authenticate to the server. C(token) uses O(token); C(approle) logs in with O(role_id) and O(secret_id).
    type: str
    choices: [approle, token]
    default: token
  token:
    description:
      - Client token for O(auth_method=token).
      - The environment variables E(BAO_TOKEN), then E(VAULT_TOKEN), are used when the option is not set.
    type: str
  role_id:
    description:
      - AppRole role id for O(auth_method=approle).
      - The environment variable E(AIGOV_VAULT_ROLE_ID) is used when the option is not set.
    type: str
  secret_id:
    description:
      - AppRole secret id for O(auth_method=approle).
      - The environment variable E(AIGOV_VAULT_SECRET_ID) is used when the option is not set.
    type: str
  approle_mount_point:
    description:
      - Mount point of the AppRole auth method.
    type: str
    default: approle
"""

    # Lookups also read options from the environment through Ansible's config manager,
    # where the last variable set wins: BAO_* are listed last to win, as in the modules.
    PLUGINS = r"""
options:
  url:
    env:
      - name: VAULT_ADDR
      - name: BAO_ADDR
  namespace:
    env:
      - name: VAULT_NAMESPACE
      - name: BAO_NAMESPACE
  ca_cert:
    env:
      - name: VAULT_CACERT
      - name: BAO_CACERT
  file_dir:
    env:
      - name: AIGOV_SECRET_DIR
  token:
    env:
      - name: VAULT_TOKEN
      - name: BAO_TOKEN
  role_id:
    env:
      - name: AIGOV_VAULT_ROLE_ID
  secret_id:
    env:
      - name: AIGOV_VAULT_SECRET_ID
"""

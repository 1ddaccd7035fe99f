# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vector databases recognised from their command line (the model_servers table format)."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.discovery.model_servers import Signature

VECTOR_DB_SIGNATURES = (
    Signature('qdrant', 'Qdrant', programs=('qdrant',), auth_env=('QDRANT__SERVICE__API_KEY', 'QDRANT__SERVICE__READ_ONLY_API_KEY'),
              model_flags=()),
    Signature('milvus', 'Milvus', programs=('milvus',), subcommand=('run',), no_auth='unknown', model_flags=()),
    Signature('chroma', 'Chroma', programs=('chroma',), subcommand=('run',), tokens=('chromadb.app:app',),
              auth_env=('CHROMA_SERVER_AUTHN_PROVIDER', 'CHROMA_SERVER_AUTH_PROVIDER'), model_flags=()),
    Signature('weaviate', 'Weaviate', programs=('weaviate',), auth_on_env=('AUTHENTICATION_APIKEY_ENABLED', 'AUTHENTICATION_OIDC_ENABLED'),
              model_flags=()),
    # PostgreSQL counts as a vector database when the pgvector extension is installed;
    # pg_hba.conf decides authentication, which the command line cannot tell.
    Signature('pgvector', 'PostgreSQL with pgvector', programs=('postgres', 'postmaster'), no_auth='unknown', model_flags=(),
              requires_glob='/usr/share/postgresql/*/extension/vector.control'),
)

"""Fixtures of the secret tests: one real OpenBao dev server for the session, and the independent KV reader."""

import pytest

from tests.integration.secrets.openbao import KV, OpenBao


@pytest.fixture(scope='session')
def openbao(tmp_path_factory):
    bao = OpenBao(str(tmp_path_factory.mktemp('openbao'))).start()
    bao.auth = bao.setup_auth()
    yield bao
    bao.stop()


@pytest.fixture
def kv(openbao):
    return KV(openbao)

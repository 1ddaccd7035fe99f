"""Server versions read from package metadata and version variables (fake /proc, real files)."""

import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import discovery, server_versions

from tests.contracts import validate

from ..fakeproc import FakeProc


def make_venv(prefix, packages, system_site=False):
    """A virtualenv as `python -m venv` and pip leave it: pyvenv.cfg, bin/python3, dist-info folders."""
    site = prefix / 'lib' / 'python3.11' / 'site-packages'
    site.mkdir(parents=True)
    (prefix / 'bin').mkdir()
    (prefix / 'bin' / 'python3').write_text('')
    (prefix / 'pyvenv.cfg').write_text('home = /usr/bin\ninclude-system-site-packages = %s\n' % str(system_site).lower())
    for name in packages:
        (site / name).mkdir()
    return site


@pytest.fixture
def proc(tmp_path):
    return FakeProc(tmp_path / 'proc')


def server(proc, argv, **kwargs):
    proc.add(100, argv, env=kwargs.pop('env', {}), sockets=[(5001, '127.0.0.1', 8000)], **kwargs)
    assets, problems = discovery.discover_servers(proc.root, 'node1', 'mid-1')
    for asset in assets:
        validate(asset, 'asset.v1.json')
    [asset] = assets
    return asset['attributes'], problems


def test_version_from_the_dist_info_of_the_venv_the_server_runs_from(proc, tmp_path):
    site = make_venv(tmp_path / 'venv', ['vllm-0.6.3.dist-info', 'torch-2.4.0.dist-info'])
    attrs, problems = server(proc, [str(tmp_path / 'venv' / 'bin' / 'python3'), '-m', 'vllm.entrypoints.openai.api_server'],
                             exe='/usr/bin/python3.11')
    assert problems == []
    assert attrs['version'] == '0.6.3'
    assert attrs['version_source'] == 'package-metadata:%s' % (site / 'vllm-0.6.3.dist-info')
    assert attrs['http'] is None  # the HTTP probe is off unless asked for


def test_interpreter_found_through_path_and_an_editable_install_read_from_pkg_info(proc, tmp_path):
    make_venv(tmp_path / 'other', ['vllm-0.1.0.dist-info'])
    site = make_venv(tmp_path / 'venv', [])
    (site / 'vllm.egg-info').mkdir()
    (site / 'vllm.egg-info' / 'PKG-INFO').write_text('Metadata-Version: 2.1\nName: vllm\nVersion: 0.7.0.dev5\n\nBody\n')
    path = '%s:%s:/usr/bin' % (tmp_path / 'venv' / 'bin', tmp_path / 'other' / 'bin')
    attrs, _problems = server(proc, ['python3', '-m', 'vllm.entrypoints.openai.api_server'], env={'PATH': path})
    assert (attrs['version'], attrs['version_source']) == ('0.7.0.dev5', 'package-metadata:%s/vllm.egg-info' % site)


def test_pythonpath_shadows_the_environment_and_system_site_is_included_on_request(proc, tmp_path):
    make_venv(tmp_path / 'venv', [], system_site=True)
    extra = tmp_path / 'extra'
    (extra / 'litellm-1.50.0.dist-info').mkdir(parents=True)
    attrs, _problems = server(proc, [str(tmp_path / 'venv' / 'bin' / 'python3'), '/x/bin/litellm', '--port', '4000'],
                              env={'PYTHONPATH': '/nonexistent:%s' % extra})
    assert attrs['version'] == '1.50.0'


def test_version_read_inside_the_root_of_a_containerised_process(proc, tmp_path):
    rootfs = tmp_path / 'rootfs'
    site = make_venv(rootfs / 'opt' / 'venv', ['sglang-0.4.1.dist-info'])
    attrs, problems = server(proc, ['/opt/venv/bin/python3', '-m', 'sglang.launch_server'], root=str(rootfs))
    assert problems == [] and site.is_dir()
    # The path is the one the process sees, not the host's view of it.
    assert attrs['version_source'] == 'package-metadata:/opt/venv/lib/python3.11/site-packages/sglang-0.4.1.dist-info'


def test_unreadable_root_is_a_problem_not_a_failure(proc, tmp_path):
    attrs, problems = server(proc, ['/opt/venv/bin/python3', '-m', 'sglang.launch_server'], root=str(tmp_path / 'gone'))
    assert (attrs['version'], attrs['version_source']) == (None, None)
    assert problems == ['SGLang (pid 100): cannot look at the root of pid 100 (No such file or directory); version unknown']


@pytest.mark.parametrize('value, version', [('2.52.0', '2.52.0'), ('rm -rf / ; echo', None), ('x' * 100, None)])
def test_binary_version_from_the_variable_its_image_sets(proc, value, version):
    attrs, _problems = server(proc, ['/opt/tritonserver/bin/tritonserver', '--model-repository', '/models'],
                              env={'TRITON_SERVER_VERSION': value})
    assert attrs['version'] == version
    assert attrs['version_source'] == ('env:TRITON_SERVER_VERSION' if version else None)


def test_binary_without_a_static_source_has_no_version(proc):
    attrs, problems = server(proc, ['/usr/bin/ollama', 'serve'])
    assert (attrs['version'], attrs['version_source'], problems) == (None, None, [])


def test_clean_version_rejects_free_text():
    assert server_versions.clean_version('v0.5.7\n') == '0.5.7'
    assert server_versions.clean_version('<html>') is None
    assert server_versions.clean_version(None) is None


def test_a_venv_pointing_at_itself_does_not_loop(proc, tmp_path):
    make_venv(tmp_path / 'venv', [])
    (tmp_path / 'venv' / 'pyvenv.cfg').write_text('home = %s\ninclude-system-site-packages = true\n' % (tmp_path / 'venv' / 'bin'))
    attrs, _problems = server(proc, [os.path.join(str(tmp_path), 'venv', 'bin', 'python3'), '-m', 'vllm.entrypoints.api_server'])
    assert attrs['version'] is None

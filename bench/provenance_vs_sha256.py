"""Figure: verifying the OpenSSF model signature of a model directory against computing its sha256 alone.

The directory (default 2 GB: four weight shards, a config and a tokenizer) is signed in key pair mode by the
model-signing library. Interleaved rounds, median wall time, one process:

  baseline   hashlib.file_digest(sha256) of every file of the directory, unbuffered (the standard library's
             fastest single-threaded sha256 of a file: what any check of its digests costs at least)
  candidate  provenance.model_signature.verify_model with an empty hash cache: the bundle is parsed, the DSSE
             signature verified (standard-library ECDSA), every file hashed once and compared to the manifest
             (target: <= 1.2x the baseline)
  warm       the same with the hash cache discovery left behind (nothing is read again; noted, not a target)
  reference  model-signing's own verifier on the same directory, once (for comparison, not a target)

The page cache is warmed first, so both sides hash from memory: the figure is the verifier's overhead.
Smoke size (bench/run.py --smoke): SMOKE below.
"""

import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

from ansible_collections.aigov.core.plugins.module_utils.discovery.model_signatures import cached_digest  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import HashCache  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.provenance import model_signature, signers  # noqa: E402
from tests.model_signing_kit import KeyPair, library_verifies  # noqa: E402

import targets  # noqa: E402  (bench/, on sys.path when run by bench/run.py)

CHUNK = 1024 * 1024


def build_model(directory, total_mb):
    """Four shards of total_mb / 4 MiB (a random block repeated: sha256 speed does not depend on content)."""
    block = os.urandom(CHUNK)
    for index in range(4):
        with open(os.path.join(directory, 'model-%05d-of-00004.safetensors' % (index + 1)), 'wb') as handle:
            for _block in range(max(1, total_mb // 4)):
                handle.write(block)
            handle.write(index.to_bytes(4, 'little'))  # four different files
    with open(os.path.join(directory, 'config.json'), 'w') as handle:
        handle.write('{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096}')
    with open(os.path.join(directory, 'tokenizer.json'), 'wb') as handle:
        handle.write(block[:200000])


def sha256_all(directory):
    digests = {}
    for name in sorted(os.listdir(directory)):
        if name == 'model.sig':
            continue
        with open(os.path.join(directory, name), 'rb', buffering=0) as handle:
            digests[name] = hashlib.file_digest(handle, 'sha256').hexdigest()
    return digests


def verify(directory, trusted, cache):
    deadline = time.monotonic() + 3600
    result, problem = model_signature.verify_model(os.path.join(directory, 'model.sig'), directory, 'directory', trusted,
                                                   cached_digest(cache, deadline), deadline)
    if result['status'] != 'signed' or problem:
        sys.exit('provenance figure: the signed model does not verify (%s, %s)' % (result['status'], problem))
    return result


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


SMOKE = {'provenance_mb': 64, 'provenance_rounds': 1}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-provenance-', dir=args.provenance_dir)
    try:
        model = os.path.join(workdir, 'llama')
        os.mkdir(model)
        build_model(model, args.provenance_mb)
        size = sum(os.path.getsize(os.path.join(model, name)) for name in os.listdir(model))
        key = KeyPair(workdir)
        key.sign(model)
        trusted = signers.parse_signers([{'name': 'release', 'public_key': key.public_pem}])
        sha256_all(model)  # warm the page cache for both sides
        times = {'baseline': [], 'candidate': [], 'warm': []}
        for round_index in range(args.provenance_rounds):
            pair = ('baseline', 'candidate') if round_index % 2 == 0 else ('candidate', 'baseline')
            for side in pair:
                if side == 'baseline':
                    times[side].append(timed(lambda: sha256_all(model)))
                else:
                    cache = HashCache(None)
                    times[side].append(timed(lambda: verify(model, trusted, cache)))
                    times['warm'].append(timed(lambda: verify(model, trusted, cache)))
        reference = timed(lambda: library_verifies(model, os.path.join(model, 'model.sig'),
                                                   public_key_path=_public_key_file(workdir, key)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base, cand, warm = (statistics.median(times[side]) for side in ('baseline', 'candidate', 'warm'))
    print('\nsigned model directory of %.2f GB (6 files), median of %d interleaved rounds, page cache warm'
          % (size / 1e9, args.provenance_rounds))
    print('  baseline   hashlib.file_digest sha256 of every file   %7.3f s  %6.0f MB/s' % (base, size / base / 1e6))
    print('  candidate  verify_model, empty hash cache              %7.3f s  %6.0f MB/s  ratio %.3f (target <= 1.2)'
          % (cand, size / cand / 1e6, cand / base))
    print('  warm       verify_model, hash cache of discovery      %7.3f s  (nothing read again; not a target)' % warm)
    print('  reference  model-signing library verifier, once       %7.3f s  (for comparison; it hashes files in'
          ' parallel threads)' % reference)
    return {'figure': 'provenance_verify_vs_sha256', 'bytes': size, 'rounds': args.provenance_rounds,
            'baseline_median_s': round(base, 4), 'candidate_median_s': round(cand, 4), 'warm_median_s': round(warm, 4),
            'library_reference_s': round(reference, 4), 'ratio': round(cand / base, 3),
            'targets': [targets.check('provenance: signature verification vs sha256 alone', cand / base, '<=', 1.2)]}


def _public_key_file(workdir, key):
    path = os.path.join(workdir, 'release.pub')
    with open(path, 'w') as handle:
        handle.write(key.public_pem)
    return path


def add_arguments(parser):
    parser.add_argument('--provenance-mb', type=int, default=2048, help='size of the signed model directory (MiB)')
    parser.add_argument('--provenance-rounds', type=int, default=5, help='interleaved timed rounds of the provenance figure')
    parser.add_argument('--provenance-dir', default=None, help='where the model directory is written (default: TMPDIR)')

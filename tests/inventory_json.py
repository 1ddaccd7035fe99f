"""Reading `ansible-inventory --list` output of the aigov.core.ai_assets plugin."""


def unwrap(value):
    """Host data comes from the managed hosts, so the plugin never marks it trusted and the CLI's
    JSON shows such strings as {"__ansible_unsafe": ...}: return the plain values."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:
            return value['__ansible_unsafe']
        return dict((key, unwrap(item)) for key, item in value.items())
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value

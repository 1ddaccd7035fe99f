# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model files mounted into serving containers: found at their host path and linked to the container.

The model_artifact probe also walks the host directories mounted into the containers a model
server or vector database runs in (system trees excepted: containers.NOT_MODEL_STORES), and
each model file under such a mount names the containers that see it and the path they see it at.
The serving containers come from the model_server probe when it ran in this discovery (the
shared ContainerIndex), else from one scan of the process table here.
"""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.discovery import containers, discovery, model_servers
from ansible_collections.aigov.core.plugins.module_utils.discovery.vector_dbs import VECTOR_DB_SIGNATURES


def serving_stores(options):
    """(host directory, container path, context) of every model store mounted into a serving container; problems."""
    index = containers.index_of(options)
    problems = []
    if index.enabled and not index.serving and not options.get('_servers_scanned'):
        options['_servers_scanned'] = True
        matched = discovery.matched_processes(index.proc_root, model_servers.SIGNATURES + tuple(VECTOR_DB_SIGNATURES))
        roots = list(discovery.group_workers(matched))
        found, problems = index.contexts(roots)
        index.serving.update((context['id'], context) for context in found.values())
    stores = []
    for _container_id, context in sorted(index.serving.items()):
        stores.extend((source, dest, context) for source, dest in containers.model_stores(context))
    return stores, ['model_artifact: %s' % problem for problem in problems]


def extra_roots(stores, roots):
    """The mounted host directories not already under one of ROOTS."""
    extra = []
    for source, _dest, _context in stores:
        if not any(source == root or source.startswith(root.rstrip('/') + '/') for root in list(roots) + extra):
            extra.append(source)
    return extra


def link(assets, stores):
    """Add `containers` to each artifact asset under a mounted store: [{runtime, id, name, image, path}]."""
    for asset in assets:
        path = asset['attributes']['path']
        seen = []
        for source, dest, context in stores:
            if path == source or path.startswith(source.rstrip('/') + '/'):
                inside = os.path.join(dest, os.path.relpath(path, source)) if path != source else dest
                item = {'runtime': context['runtime'], 'id': context['id'], 'name': context['name'],
                        'image': context['image'], 'path': os.path.normpath(inside)}
                if item not in seen:
                    seen.append(item)
        if seen:
            asset['attributes']['containers'] = seen
    return assets

# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Agent runtimes and MCP servers recognised from their command line.

Agents use the model_servers table format (AGENT_SIGNATURES). MCP servers are
recognised by their package or program name instead (`npx -y
@modelcontextprotocol/server-github`, `uvx mcp-server-fetch`, `python -m
mcp_server_git`, `github-mcp-server stdio`): there are thousands of them, and
the naming convention is what they share.
"""

from __future__ import annotations

import re

from ansible_collections.aigov.core.plugins.module_utils.discovery.model_servers import Signature, parse_program

AGENT_SIGNATURES = (
    Signature('langgraph', 'LangGraph server', programs=('langgraph',), subcommand=('dev',), packages=('langgraph-cli',)),
    Signature('langgraph', 'LangGraph server', programs=('langgraph',), subcommand=('up',), packages=('langgraph-cli',)),
    Signature('crewai', 'CrewAI', programs=('crewai',), subcommand=('run',), packages=('crewai',)),
    Signature('crewai', 'CrewAI', programs=('crewai',), subcommand=('flow', 'kickoff'), packages=('crewai',)),
    Signature('autogen_studio', 'AutoGen Studio', programs=('autogenstudio',), subcommand=('ui',), packages=('autogenstudio',)),
    # `interpreter` is a generic word: only Open Interpreter's Python console script counts.
    Signature('open_interpreter', 'Open Interpreter', programs=('interpreter',), interpreter='python',
              packages=('open-interpreter',)),
    Signature('openhands', 'OpenHands', tokens=('openhands.server.listen:app',), packages=('openhands-ai',)),
    Signature('letta', 'Letta server', programs=('letta',), subcommand=('server',), packages=('letta',)),
    Signature('flowise', 'Flowise', programs=('flowise',), subcommand=('start',)),
)

# Launchers that run a package by name, and the words that may sit between them and it.
_LAUNCHERS = {'npx': (), 'bunx': (), 'pnpx': (), 'uvx': (), 'npm': ('exec',), 'pnpm': ('dlx', 'exec'),
              'pipx': ('run',), 'uv': ('tool', 'run')}
_MCP_NAME = re.compile(r'^(@modelcontextprotocol/server-[A-Za-z0-9._-]+|@[A-Za-z0-9._-]+/mcp-server-[A-Za-z0-9._-]+'
                       r'|mcp-server-[A-Za-z0-9_-]+|mcp_server_[A-Za-z0-9_]+|[A-Za-z0-9_-]+-mcp-server)$')


def _package(token):
    """`@scope/name@1.2` -> `@scope/name`, `name@latest` -> `name`, `pkg.module` -> `pkg`."""
    at = token.rfind('@')
    if at > 0:
        token = token[:at]
    return token.split('==')[0]


def _launched(args, words):
    """The package a launcher runs: the first argument that is neither an option nor a launcher word."""
    for token in args:
        if token.startswith('-') or token in words:
            continue
        return token
    return None


def mcp_server_name(argv):
    """The MCP server a command line runs (its package or program name), or None."""
    interpreter, program, args = parse_program(argv)
    if program is None:
        return None
    candidates = [program.split('.')[0] if interpreter == 'python' else program]
    if program in _LAUNCHERS:
        candidates.append(_launched(args, _LAUNCHERS[program]))
    for candidate in candidates:
        if candidate and _MCP_NAME.match(_package(candidate)):
            return _package(candidate)
    return None


class McpSignature(Signature):
    """Any MCP server: matched by name, so that discovery's process grouping applies to them too."""

    def __init__(self):
        super(McpSignature, self).__init__('mcp_server', 'MCP server', model_flags=())

    def matches(self, interpreter, program, args, argv):
        return mcp_server_name(argv) is not None


MCP_SIGNATURES = (McpSignature(),)

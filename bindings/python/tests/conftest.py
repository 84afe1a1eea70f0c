"""Fixtures: every test gets a Sandbox with a scope of its own and a working dir; all
sessions of the scope are removed afterwards (through the library, then with podman as a
backstop), also when the test failed."""

from __future__ import annotations

import itertools
import os
import subprocess
from typing import Iterator

import pytest

import sandbox

_counter = itertools.count()


def unique(tag: str) -> str:
    return f"{tag}-{os.getpid()}-{next(_counter)}"


def remove_scope(scope: str) -> None:
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label=sandbox.scope={scope}",
         "--format", '{{.Names}} {{index .Labels "sandbox.control"}}'],
        capture_output=True, text=True, check=False,
    ).stdout
    for line in out.splitlines():
        name, _, control = line.partition(" ")
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
        if control.startswith("/"):
            subprocess.run(["rm", "-rf", control], check=False)


def leftovers(scope: str) -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "-aq", "--filter", f"label=sandbox.scope={scope}"],
        capture_output=True, text=True, check=True,
    ).stdout
    return out.split()


@pytest.fixture
def scope(request: pytest.FixtureRequest) -> Iterator[str]:
    name = unique("py-" + request.node.name.replace("_", "-")[:30].strip("-"))
    yield name
    remove_scope(name)


@pytest.fixture
def sb(scope: str) -> Iterator[sandbox.Sandbox]:
    with sandbox.Sandbox(scope=scope, provision=False) as s:
        try:
            yield s
        finally:
            try:
                s.reap_orphans()
            except sandbox.ClosedError:
                pass
    assert leftovers(scope) == [], "the test left sessions behind"


@pytest.fixture
def workdir(tmp_path) -> str:
    return str(tmp_path)

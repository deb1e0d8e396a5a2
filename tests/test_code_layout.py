"""The package's layout: no import cycles, a Django-free server, small modules.

A cycle (even through an import inside a function) means two modules share a job
that belongs in a third; grimp builds the import graph from the source.
"""

from __future__ import annotations

from pathlib import Path

import grimp

import pusherable


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    graph = grimp.build_graph("pusherable", cache_dir=None)
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(module))
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == [], "Import cycles (module, imported): " + ", ".join(map(str, cycles))


def test_the_bundled_server_and_the_protocol_rules_import_no_django() -> None:
    graph = grimp.build_graph("pusherable", "django", cache_dir=None)
    assert graph.chain_exists(importer="pusherable.channels", imported="django", as_packages=True)
    for module in ("pusherable.protocol_rules", "pusherable.server"):
        assert not graph.chain_exists(importer=module, imported="django", as_packages=True), module


def test_no_module_of_the_package_is_longer_than_500_lines() -> None:
    package = Path(pusherable.__file__).parent
    long_modules = {
        str(path.relative_to(package)): lines
        for path in package.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long_modules == {}

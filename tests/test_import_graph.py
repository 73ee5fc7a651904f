"""The import graph of keras_inception, read with ``ast``: no network file imports another,
and no two packages import each other in a cycle.

A *network file* is a module of ``keras_inception/models`` that registers a
builder (``@register_model``); what networks share lives in modules that
register none (``blocks``, ``stages``, ``inception_resnet``, ``base``).
A *package* is a top-level module or subpackage of ``keras_inception``
(``registry``, ``models``, ``training`` ...); every import counts, those
inside functions too, except of the root ``keras_inception`` itself, whose
``__init__`` only re-exports the others.
"""

import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "keras_inception")


def modules():
    """``{dotted module name: path}`` of every module of the package."""
    found = {}
    for directory, _, names in os.walk(ROOT):
        for filename in names:
            if filename.endswith(".py"):
                path = os.path.join(directory, filename)
                parts = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


def imported(path, module, known):
    """The modules of the package that ``path`` (module ``module``) imports, anywhere in it."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in known and target != module}


def import_graph():
    known = modules()
    return {module: imported(path, module, known) for module, path in known.items()}


def registers_a_builder(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if getattr(call, "id", getattr(call, "attr", None)) == "register_model":
                    return True
    return False


def network_files():
    return {
        module
        for module, path in modules().items()
        if module.startswith("keras_inception.models.") and registers_a_builder(path)
    }


def package_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def package_graph(graph):
    edges = {}
    for module, targets in graph.items():
        source = package_of(module)
        for target in targets:
            target_package = package_of(target)
            if source and target_package and target_package != source:
                edges.setdefault(source, set()).add(target_package)
    return edges


def cycles(edges):
    """Every strongly connected set of two or more packages (Tarjan), sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_six_networks_are_network_files():
    assert network_files() == {
        f"keras_inception.models.{name}"
        for name in (
            "inception_v1",
            "inception_v2",
            "inception_v3",
            "inception_v4",
            "inception_resnet_v1",
            "inception_resnet_v2",
        )
    }


def test_no_network_file_imports_another():
    graph = import_graph()
    networks = network_files()
    offending = {
        module: sorted(graph[module] & networks) for module in networks if graph[module] & networks
    }
    assert not offending, f"network files importing network files: {offending}"
    shared = {m for m in graph if m.startswith("keras_inception.models.")} - networks
    assert not {m: graph[m] & networks for m in shared if graph[m] & networks}


def test_no_package_cycle():
    assert cycles(package_graph(import_graph())) == []


def test_weights_know_no_builder():
    # The builders load weights (models -> weights); what builds a network to
    # convert into sits above both, in ``conversion``.
    edges = package_graph(import_graph())
    assert not edges.get("weights", set()) & {"models", "registry", "features", "zoo"}


def test_features_and_specs_are_in_no_cycle():
    found = {package for cycle in cycles(package_graph(import_graph())) for package in cycle}
    assert not found & {"features", "specs"}
    edges = package_graph(import_graph())
    assert "registry" not in edges.get("models", set()), "models must register through specs"
    assert not edges.get("specs")


def test_cycle_finder_sees_a_cycle_and_reads_relative_imports(tmp_path):
    assert cycles({"training": {"export"}, "export": {"training"}, "data": {"training"}}) == [
        ["export", "training"]
    ]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []
    path = tmp_path / "inception_v9.py"
    path.write_text("def f():\n    from . import blocks\n    from ..weights import slim\n")
    known = {"keras_inception.models.blocks", "keras_inception.weights.slim"}
    assert imported(str(path), "keras_inception.models.inception_v9", known) == known
    graph = import_graph()
    assert "keras_inception.models.blocks" in graph["keras_inception.models.inception_v4"]
    assert "keras_inception.specs" in graph["keras_inception.models.inception_v3"]

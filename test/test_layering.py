"""
The package's import graph: no cycles, and the ROS-free core never reaches up into the shells.

Every import counts, at module level or inside a function (a function-level
import hides a cycle from Python, not from a reader).  Layers, lowest first:
the core (tokenizers/, data/, runtime/, sim/ and the top-level modules), then
nodes/ (rclpy shells), cli/ and demo/.  The core imports no rclpy and no message
package, so it runs where ROS is not installed.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'robotok_ros'
CORE = ('robotok_ros.tokenizers', 'robotok_ros.data', 'robotok_ros.runtime', 'robotok_ros.sim',
        'robotok_ros.policy')
SHELLS = ('robotok_ros.nodes', 'robotok_ros.cli', 'robotok_ros.demo')
ROS = ('rclpy', 'rcl_interfaces', 'std_msgs', 'geometry_msgs', 'sensor_msgs', 'diagnostic_msgs',
       'std_srvs', 'rosgraph_msgs', 'builtin_interfaces', 'launch', 'launch_ros')


def module_name(path):
    """Return the dotted module name of a file under robotok_ros/."""
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports_of(path, modules):
    """Return the modules (of ``modules``, else top-level names) that ``path`` imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f'{node.module}.{a.name}' for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules and name.startswith('robotok_ros.'):
                name = name.rpartition('.')[0]
            if name in modules:
                out.add(name)
            elif not name.startswith('robotok_ros'):
                out.add(name.split('.')[0])
    return out


def graph():
    """Return ``{module: imported modules}`` over the package (plus outside top-level names)."""
    files = {module_name(p): p for p in PACKAGE.rglob('*.py')}
    return {m: imports_of(p, files) for m, p in files.items()}


def cycles(edges):
    """Return the import cycles: strongly connected sets of modules (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges.get(v, ()):
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    edges = {m: {i for i in deps if i.startswith('robotok_ros')} for m, deps in graph().items()}
    edges = {m: {i for i in deps if i != m} for m, deps in edges.items()}
    # A package's __init__ may import its own modules; that is not a cycle unless they
    # import the package back (they then import the __init__ module by that name).
    assert cycles(edges) == []


def test_cycles_are_found():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


@pytest.mark.parametrize('layer', CORE)
def test_the_core_imports_no_shell_and_no_ros(layer):
    for module, deps in graph().items():
        if module == layer or module.startswith(layer + '.'):
            up = sorted(d for d in deps if d.startswith(SHELLS))
            assert not up, f'{module} imports {up}: move what it needs down into the core'
            ros = sorted(d for d in deps if d in ROS)
            assert not ros, f'{module} imports {ros}: the core must run without ROS'

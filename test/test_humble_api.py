"""
Every rclpy / rcl_interfaces API the package uses exists in ROS 2 Humble (rclpy 3.3).

No Humble wheels exist, so this is static: ``ast`` collects each name imported
from ``rclpy`` or ``rcl_interfaces`` (module level or in functions) and each
attribute reached from such an import (also through ``self.rclpy``), with the
arguments of calls, and checks them against tables in ``humble_api.py`` that
were verified by reading the Humble source.  Method calls on rclpy objects
cannot be typed statically: calls of the method names listed there are checked
for their argument counts and keywords wherever they appear, except calls of a
file's own ``def`` through ``self`` and calls on imported names (checked above
or not rclpy's).
"""

import ast
from pathlib import Path

from humble_api import HUMBLE_METHODS, HUMBLE_RCLPY, NEWER_WITH_FALLBACK
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRACKED = ('rclpy', 'rcl_interfaces')


def sources():
    """Return ``{path: source}`` of the package and of the benchmarks that use rclpy."""
    files = sorted((ROOT / 'robotok_ros').rglob('*.py')) + sorted((ROOT / 'bench').glob('*.py'))
    return {str(p.relative_to(ROOT)): p.read_text() for p in files}


def dotted(node):
    """Return ``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return '.'.join([node.id] + parts[::-1]) if isinstance(node, ast.Name) else None


def catches_import_error(node):
    """Tell whether a ``try`` has an ``except ImportError`` whose body imports a fallback."""
    for handler in node.handlers:
        names = [dotted(t) for t in (handler.type.elts if isinstance(handler.type, ast.Tuple)
                                     else [handler.type])] if handler.type else []
        if {'ImportError', 'ModuleNotFoundError'} & set(names) and any(
                isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(handler)):
            return True
    return False


def collect(source):
    """Return (uses, node_classes, own_defs, imported_names) of one file; a use is a dict."""
    tree = ast.parse(source)
    aliases, imported, uses = {}, set(), []
    node_classes, own = set(), {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}

    def resolve(node):
        name = dotted(node)
        if name is None:
            return None
        parts = name.split('.')
        if parts[0] in aliases:
            return '.'.join([aliases[parts[0]]] + parts[1:])
        if 'rclpy' in parts[1:]:  # self.rclpy.init(), bench.rclpy.try_shutdown()
            return '.'.join(parts[parts.index('rclpy'):])
        return None

    def visit(node, guarded):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                module = node.module if isinstance(node, ast.ImportFrom) else None
                full = f'{module}.{a.name}' if module else a.name
                local = a.asname or (a.name if module else a.name.split('.')[0])
                imported.add(local)
                if full.split('.')[0] in TRACKED:
                    aliases[local] = full if module or a.asname else local
                    if module or '.' in a.name:
                        uses.append({'name': full, 'line': node.lineno, 'guarded': guarded})
            return
        if isinstance(node, ast.Try):
            for child in node.body:
                visit(child, guarded or catches_import_error(node))
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, guarded)
            return
        if isinstance(node, ast.ClassDef) and any(
                resolve(b) == 'rclpy.node.Node' for b in node.bases):
            node_classes.add(node.name)
        call = node if isinstance(node, ast.Call) else None
        name = resolve(node.func if call else node)
        if name is not None and name not in TRACKED:
            uses.append({'name': name, 'line': node.lineno, 'guarded': guarded, 'call': call})
            children = (call.args + call.keywords) if call else []
        else:
            children = ast.iter_child_nodes(node)
        for child in children:
            visit(child, guarded)

    visit(tree, False)
    return uses, node_classes, own, imported


def call_problems(where, call, api, what):
    """Return what is wrong with the arguments of ``call`` against Humble's ``api``."""
    if call is None or api.nargs is None:
        return []
    out = []
    if len(call.args) > api.nargs and not any(isinstance(a, ast.Starred) for a in call.args):
        out.append(f'{where}: {what} takes at most {api.nargs} positional arguments in Humble')
    out += [f'{where}: {what}({k.arg}=...) has no such keyword in Humble' for k in call.keywords
            if k.arg is not None and k.arg not in api.kwargs.split()]
    return out


def problems(files):
    """Return every use of an API not verified for Humble, as ``path:line: why`` lines."""
    parsed = {path: collect(src) for path, src in files.items()}
    node_classes = set().union(*(p[1] for p in parsed.values()))
    out = []
    for path, (uses, _, own, imported) in parsed.items():
        for use in uses:
            where, name = f'{path}:{use["line"]}', use['name']
            if name in NEWER_WITH_FALLBACK:
                if not use['guarded']:
                    out.append(f'{where}: {name} is newer than Humble: import it only in '
                               'try/except ImportError with a fallback')
            elif name not in HUMBLE_RCLPY:
                out.append(f'{where}: {name} is not verified for Humble (test/humble_api.py)')
            else:
                out += call_problems(where, use.get('call'), HUMBLE_RCLPY[name], name)
        if not uses:  # a file that touches no rclpy holds no rclpy objects (the sim's reset)
            continue
        for call in ast.walk(ast.parse(files[path])):
            if not isinstance(call, ast.Call):
                continue
            where, func = f'{path}:{call.lineno}', call.func
            if isinstance(func, ast.Name) and func.id in node_classes:  # keywords go to Node
                node_api = HUMBLE_RCLPY['rclpy.node.Node']._replace(nargs=len(call.args))
                out += call_problems(where, call, node_api, func.id)
            if not isinstance(func, ast.Attribute) or func.attr not in HUMBLE_METHODS:
                continue
            receiver = (dotted(func.value) or '').split('.')
            if receiver[0] in imported or 'rclpy' in receiver or (
                    receiver == ['self'] and func.attr in own):
                continue
            out += call_problems(where, call, HUMBLE_METHODS[func.attr], f'.{func.attr}')
    return out


def test_package_uses_only_rclpy_api_verified_for_humble():
    """Check every rclpy name, attribute and listed method call against the Humble tables."""
    assert problems(sources()) == []


def test_listed_methods_are_used():
    """Keep the method table honest: each listed name occurs in the code (or in getattr)."""
    text = '\n'.join(sources().values())
    unused = [m for m in HUMBLE_METHODS if f'.{m}' not in text and f"'{m}'" not in text]
    assert unused == []


def test_fallback_names_are_guarded():
    """Check each newer-than-Humble name is really imported, and only under try/except."""
    uses = [u for src in sources().values() for u in collect(src)[0]]
    for name in NEWER_WITH_FALLBACK:
        found = [u['guarded'] for u in uses if u['name'] == name]
        assert found and all(found), name


SNIPPET = """
import rclpy
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.type_hash import TypeHash
from rclpy.clock import Clock
try:
    from rclpy.event_handler import PublisherEventCallbacks as Quiet
except ImportError:
    from rclpy.qos_event import PublisherEventCallbacks as Quiet


def f(node, pub):
    rclpy.init(signal_handler_options=None, bogus=1)
    rclpy.spin_forever()
    Clock(clock_type=None)
    node.create_timer(1.0, f, autostart=False)
    pub.wait_for_all_acked()
"""


@pytest.mark.parametrize('expected', [
    ':3: rclpy.event_handler.PublisherEventCallbacks is newer than Humble',
    ':4: rclpy.type_hash.TypeHash is not verified', ':13: rclpy.init(bogus=...)',
    ':14: rclpy.spin_forever is not verified', ':16: .create_timer(autostart=...)'])
def test_unverified_use_fails(expected):
    """Flag new imports, attributes and keywords Humble lacks in a synthetic snippet."""
    found = problems({'snippet.py': SNIPPET})
    assert len(found) == 5
    assert any(expected in p for p in found), found

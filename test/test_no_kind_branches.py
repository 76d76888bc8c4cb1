"""
Capabilities, not kinds (issue I): no code outside the registry branches on a kind name.

Nodes, CLI and analysis ask a tokenizer class's ``Capabilities`` or call a
method every tokenizer class has; only ``tokenizers/registry.py`` and
``tokenizers/build.py`` may compare kind names.  A branch on a kind elsewhere
is a place a new kind silently gets the wrong answer, so this walks every
module and names each comparison (``==``, ``!=``, ``in``, ``not in``) with a
``kind`` on one side.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'robotok_ros'
ALLOWED = {PACKAGE / 'tokenizers' / 'registry.py', PACKAGE / 'tokenizers' / 'build.py'}
OPS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _is_kind(node):
    """Whether ``node`` is ``kind`` or ``<x>.kind``, but not numpy's ``<x>.dtype.kind``."""
    if isinstance(node, ast.Name):
        return node.id == 'kind'
    if isinstance(node, ast.Attribute) and node.attr == 'kind':
        inner = node.value
        return not (isinstance(inner, ast.Attribute) and inner.attr == 'dtype')
    return False


def _is_registry(node):
    """Whether ``node`` is a call of ``kinds()``: a check that a kind is known names none."""
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id == 'kinds'
            or isinstance(func, ast.Attribute) and func.attr == 'kinds')


def kind_branches(path):
    """Return ``file:line: source`` for each comparison of a kind in ``path``."""
    text = path.read_text()
    out = []
    for node in ast.walk(ast.parse(text, str(path))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left] + node.comparators
        for op, left, right in zip(node.ops, sides, sides[1:]):
            if not isinstance(op, OPS):
                continue
            if (_is_kind(left) and not _is_registry(right)) or (
                    _is_kind(right) and not _is_registry(left)):
                where = path.relative_to(ROOT) if ROOT in path.parents else path
                out.append(f'{where}:{node.lineno}: {ast.get_source_segment(text, node)}')
                break
    return out


def test_the_check_sees_a_kind_branch(tmp_path):
    # The walk must catch the shapes the issue names, and let numpy's dtype.kind through.
    src = tmp_path / 'sample.py'
    src.write_text('if tok.kind in ("a", "b"):\n    pass\n'
                   'if self.kind == "openvla":\n    pass\n'
                   'x = "fast" != kind\n'
                   'y = arr.dtype.kind == "f"\n'
                   'z = kind not in kinds()\n')
    found = [line.split(': ', 1)[0] for line in kind_branches(src)]
    assert [f.rsplit(':', 1)[1] for f in found] == ['1', '3', '5']


def test_no_module_branches_on_a_kind_name():
    found = [hit for path in sorted(PACKAGE.rglob('*.py')) if path not in ALLOWED
             for hit in kind_branches(path)]
    assert not found, ('branches on a tokenizer kind (ask its Capabilities or a method every '
                       'tokenizer class has instead):\n' + '\n'.join(found))

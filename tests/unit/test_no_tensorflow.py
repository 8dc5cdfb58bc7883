"""`import advisor`, `advisor.recommend()` and `advisor recommend` never import TensorFlow; `import advisor`
imports no schema, and the command line skips pydantic's plugin loader (importlib.metadata, 13 ms of its cold
start) while the library keeps it."""

import subprocess
import sys

from tests.conftest import ROOT

SLOW = ("importlib.metadata",)  # the command line's cold start goes without it
HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "keras", "ai_edge_litert")


def test_library_recommend_keeps_tensorflow_out():
    code = (
        "import sys, advisor\n"
        "advisor.recommend({'data': 'labelled', 'hardware': 'edgetpu', 'goals': {'max_accuracy_drop': 0.01}})\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_cli_recommend_keeps_tensorflow_out():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['advisor', 'recommend', '--answers', 'examples/edgetpu.yaml', '--json']\n"
        "from advisor.cli.main import main\n"
        "code = main()\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY + SLOW!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "LOADED="


def test_import_advisor_builds_no_schema_and_the_library_keeps_pydantic_plugins():
    code = (
        "import sys, advisor\n"
        "print('pydantic' in sys.modules)\n"
        "rec = advisor.recommend({'data': 'none', 'hardware': 'gpu'})\n"
        "from pydantic.plugin import _loader\n"
        "print(rec.scheme, hasattr(_loader, 'PYDANTIC_ENTRY_POINT_GROUP'), sorted(set(advisor.__all__) - set(dir(advisor))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "float16", "True", "[]"]

"""`import advisor`, `advisor.recommend()` and `advisor recommend` never import TensorFlow."""

import subprocess
import sys

from tests.conftest import ROOT

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
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "LOADED="

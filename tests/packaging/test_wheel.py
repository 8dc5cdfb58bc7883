"""A user's `pip install .` (a wheel, not editable) works from any folder: the rules and the example
answers travel inside the package."""

import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a throwaway venv that borrows the
    dependencies already installed here (no download, no editable finder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp / "dist").glob("advisor-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line: the dependencies' folder joins sys.path, but its .pth files (the editable
    # install of this checkout among them) are not run.
    (tmp / "venv" / site.split(str(venv) + "/", 1)[1] / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return wheel, venv, tmp


def test_the_wheel_carries_the_rules_and_the_examples(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("advisor/rules/schemes.yaml", "advisor/rules/hardware.yaml", "advisor/rules/tree.yaml",
                     "advisor/examples/demo.yaml"):
        assert expected in names


def run_installed(venv, *args, cwd, timeout=900):
    return subprocess.run([str(venv / "bin" / "advisor"), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "ADVISOR_CACHE_DIR": str(cwd / "cache"), "COLUMNS": "160"})


def test_recommend_schema_and_demo_run_from_outside_the_repository(installed):
    _, venv, tmp = installed
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import advisor; print(advisor.__file__)"],
                           capture_output=True, text=True, cwd=elsewhere, check=True).stdout
    assert str(venv) in where and str(ROOT) not in where
    (elsewhere / "answers.yaml").write_text("data: unlabelled\nhardware: edgetpu\n")
    rec = run_installed(venv, "recommend", "--answers", "answers.yaml", "--json", cwd=elsewhere)
    assert rec.returncode == 0, rec.stderr
    assert '"scheme": "full_integer"' in rec.stdout
    schema = run_installed(venv, "schema", cwd=elsewhere)  # the shipped rule set is found (the sweep runs once, elsewhere)
    assert schema.returncode == 0 and "ethos-u85-256" in schema.stdout, schema.stderr
    version = run_installed(venv, "--version", cwd=elsewhere)
    assert version.returncode == 0 and version.stdout.startswith("advisor ")
    demo = run_installed(venv, "demo", cwd=elsewhere)
    assert demo.returncode == 0, demo.stderr[-3000:] + demo.stdout[-3000:]
    assert (elsewhere / "advisor-demo" / "model.tflite").is_file()

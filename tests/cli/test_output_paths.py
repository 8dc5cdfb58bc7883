"""An output path that cannot be written fails at once, in one line, before any model is loaded;
a failure while writing leaves the previous output folder as it was; --force swaps folders whole."""

import errno
import os
from pathlib import Path

import pytest

from advisor.errors import BadInput
from advisor.pipeline.output import OutputFolder
from tests.conftest import ROOT, run_cli

DEMO = str(ROOT / "examples" / "demo.yaml")


@pytest.mark.parametrize("out, reason", [
    ("{file}/sub", "is not a folder"),
    ("/proc/advisor-out", "cannot be written"),
    ("/sys/advisor-out", "cannot be written: Operation not permitted"),
])
def test_an_unwritable_out_is_one_line_exit_2_before_loading(tmp_path, out, reason):
    (tmp_path / "file").write_text("a file")
    out = out.format(file=tmp_path / "file")
    result = run_cli("run", "--answers", DEMO, "--out", out, env={"ADVISOR_CACHE_DIR": str(tmp_path / "never")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and out.split("/sub")[0] in lines[0]
    assert "Use full_integer" not in result.stdout  # it failed before planning output, loading or training
    assert not list((tmp_path / "never").glob("builtin-*"))  # the built-in model was not even trained


def test_the_wizard_checks_its_save_path_before_asking(tmp_path):
    (tmp_path / "file").write_text("a file")
    result = run_cli("wizard", "--save", str(tmp_path / "file" / "answers.yaml"))
    # standard input is not a terminal here, so the wizard refuses anyway: the path is checked by the library call
    from advisor.pipeline.output import check_file_path

    with pytest.raises(BadInput, match="is not an existing folder"):
        check_file_path(tmp_path / "file" / "answers.yaml")
    with pytest.raises(BadInput, match="is a folder"):
        check_file_path(tmp_path)
    assert result.returncode == 2


def previous(tmp_path) -> Path:
    out = tmp_path / "out"
    (out / "attempts").mkdir(parents=True)
    (out / "model.tflite").write_bytes(b"old model")
    (out / "attempts" / "old.tflite").write_bytes(b"old attempt")
    return out


def listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_full_disk_while_writing_leaves_the_previous_folder_as_it_was(tmp_path, monkeypatch):
    out = previous(tmp_path)
    before = listing(out)
    real = Path.write_bytes
    calls = []

    def fills_up(self, data):
        calls.append(self)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", fills_up)
    with pytest.raises(BadInput, match=r"out/attempts/b.tflite: cannot be written: No space left on device"):
        with OutputFolder(out, force=True) as folder:
            folder.write("attempts/a.tflite", b"new")
            folder.write("attempts/b.tflite", b"new")
            folder.commit()
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("atomic", [True, False])
def test_force_swaps_the_whole_folder_and_leaves_nothing_beside_it(tmp_path, monkeypatch, atomic):
    out = previous(tmp_path)
    if not atomic:  # a system without renameat2: two renames, the old folder aside until the new one is in
        monkeypatch.setattr("advisor.pipeline.output._exchange", lambda a, b: False)
    with OutputFolder(out, force=True) as folder:
        folder.write("model.tflite", b"new model")
        folder.commit()
    assert listing(out) == {"model.tflite": b"new model"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_error_before_commit_removes_what_was_staged_and_the_parents_it_made(tmp_path):
    with pytest.raises(RuntimeError):
        with OutputFolder(tmp_path / "new" / "deeper" / "out", force=False) as folder:
            folder.write("x.txt", "x")
            raise RuntimeError("an attempt went wrong")
    assert list(tmp_path.iterdir()) == []


def test_discard_removes_the_staging_folder_while_a_worker_still_writes_into_it(tmp_path):
    """After Ctrl-C a worker may write into the staging folder for a moment while it is discarded: a file
    made after rmtree listed its folder used to leave the hidden staging folder behind."""
    import threading
    import time

    folder = OutputFolder(tmp_path / "out", force=False)
    stop = time.monotonic() + 0.4

    def worker():
        index = 0
        while time.monotonic() < stop:
            for depth in range(4):
                target = folder.work.joinpath(*[f"d{d}" for d in range(depth)])
                try:  # into folders that exist (a worker's open() does not make its folder)
                    target.mkdir(exist_ok=True)
                    (target / f"f{index}").write_bytes(b"x" * 64)
                except OSError:
                    pass
                index += 1

    writer = threading.Thread(target=worker)
    writer.start()
    time.sleep(0.05)
    folder.discard()
    writer.join()
    assert not folder.staging.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_force_swaps_the_folders_and_the_output_path_is_never_empty(tmp_path, monkeypatch, exchange):
    """Whatever is removed is removed after the new folder stands at the output path: a delete-then-move
    would leave a moment with no folder (or half of one) there."""
    from advisor.pipeline import output

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("the previous run")
    seen = []
    real_rmtree, real_rename = output.shutil.rmtree, output.os.rename

    def watched_rmtree(path, *args, **kwargs):
        seen.append(("rmtree", Path(path).name, (out / "new.txt").exists()))
        return real_rmtree(path, *args, **kwargs)

    def watched_rename(a, b):
        seen.append(("rename", Path(b).name, out.exists()))
        return real_rename(a, b)

    monkeypatch.setattr(output.shutil, "rmtree", watched_rmtree)
    monkeypatch.setattr(output.os, "rename", watched_rename)
    if not exchange:
        monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    folder = OutputFolder(out, force=True)
    folder.write("new.txt", "this run")
    folder.commit()
    assert (out / "new.txt").read_text() == "this run" and not (out / "old.txt").exists()
    removals = [s for s in seen if s[0] == "rmtree" and s[1] != ".work"]
    assert removals and all(new_in_place for _, _, new_in_place in removals)
    if exchange:
        assert not [s for s in seen if s[0] == "rename"]  # one atomic exchange, no rename
    else:  # the old folder is set aside first, so the path is empty only between two renames, never deleted
        assert [s[1] for s in seen if s[0] == "rename"] == [f".out.advisor-old-{os.getpid()}", "out"]

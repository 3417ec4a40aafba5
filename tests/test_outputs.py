"""gscpr.outputs: atomic writes, the writable check, the folder lock and the one-line handler."""

import errno
import os

import numpy as np
import pytest

from gscpr.outputs import (
    LOCK_FILE,
    FolderInUseError,
    atomic_path,
    check_writable,
    error_line,
    naming,
    not_there,
    output_folder,
    run_command,
    write_json,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "depth.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(OSError) as info, atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npy" and tmp != path
        tmp.write_bytes(b"\x93NUMPY cut")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.filename == str(path)  # named after the file, not the temporary
    assert np.load(path).tolist() == [0, 0, 0] and sorted(p.name for p in tmp_path.iterdir()) == ["depth.npy"]
    write_json(tmp_path / "sub" / "a.json", {"x": 1})
    write_text(tmp_path / "sub" / "a.json", "replaced")
    assert (tmp_path / "sub" / "a.json").read_text() == "replaced" and len(list((tmp_path / "sub").iterdir())) == 1


def test_check_writable_names_the_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("")
    for target in (tmp_path / "f", tmp_path / "f" / "a" / "b"):
        with pytest.raises(NotADirectoryError) as info:
            check_writable(target)
        assert error_line(info.value) == f"{tmp_path / 'f'}: is a file, not a folder"
    assert check_writable(tmp_path / "new" / "deep").is_dir() and not list((tmp_path / "new" / "deep").iterdir())


def test_the_lock_says_who_holds_it_and_goes_with_the_holder(tmp_path):
    with output_folder(tmp_path / "out"):
        with pytest.raises(FolderInUseError) as info, output_folder(tmp_path / "out"):
            pass
        assert info.value.errno == errno.EBUSY
        assert f"pid {os.getpid()} on " in error_line(info.value) and "started 20" in error_line(info.value)
    with output_folder(tmp_path / "out"):  # released: taken again
        assert (tmp_path / "out" / LOCK_FILE).is_file()
    with output_folder(tmp_path / "out", lock=False), output_folder(tmp_path / "out"):
        pass  # a torchrun rank other than 0 only checks


def test_run_command_makes_one_line_of_os_errors_and_interrupts(tmp_path, capsys):
    def full():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x"))

    assert run_command(full, "gscpr x: ") == 2
    assert capsys.readouterr().err == f"gscpr x: error: {tmp_path / 'x'}: No space left on device\n"

    def interrupted():
        with output_folder(tmp_path, count=lambda: 7):
            raise KeyboardInterrupt

    assert run_command(interrupted) == 130
    assert capsys.readouterr().err == f"interrupted; 7 records kept in {tmp_path}, resume with the same command\n"
    assert run_command(lambda: (_ for _ in ()).throw(KeyboardInterrupt)) == 130
    assert capsys.readouterr().err == "interrupted; nothing written yet, resume with the same command\n"
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_command(lambda: 1 / 0)


def test_a_file_system_without_locks_runs_and_says_so(tmp_path, monkeypatch, capsys):
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with output_folder(tmp_path / "nfs") as folder:
        assert folder == tmp_path / "nfs"
    assert capsys.readouterr().err == (f"warning: {tmp_path / 'nfs'}: cannot be locked (No locks available): two "
                                       "runs on it would both do the work\n")  # fmt: skip


def test_a_folder_where_the_file_goes_is_named_not_the_temporary(tmp_path):
    (tmp_path / "log.json").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_json(tmp_path / "log.json", {})
    assert error_line(info.value) == f"{tmp_path / 'log.json'}: Is a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["log.json"]


def test_a_file_in_the_way_of_a_files_folder_is_named(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError) as info:
        write_json(tmp_path / "afile" / "sub" / "x.json", {})  # mkdir would say only "File exists"
    assert error_line(info.value) == f"{tmp_path / 'afile'}: is a file, not a folder"
    assert (tmp_path / "afile").read_text() == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to fail a write as a full disk")
def test_torch_saves_failed_write_is_an_os_error_naming_the_file(tmp_path, capsys):
    import torch

    target = tmp_path / "ckpt_100.pt"
    with pytest.raises(OSError) as info, naming(target):
        torch.save({"w": torch.zeros(100_000)}, "/dev/full")  # every write fails as on a full disk
    assert info.value.filename == str(target) and "torch: " in info.value.strerror

    def save():
        with atomic_path(target), naming(target):
            torch.save({"w": torch.zeros(100_000)}, "/dev/full")

    assert run_command(save, "gscpr train: ") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gscpr train: error: {target}: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="not a write"), naming(target):  # torch's other errors stay bugs
        raise RuntimeError("not a write")


def test_not_there_says_what_stands_at_the_path(tmp_path):
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.png")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert not_there(tmp_path / "folder", "pose file") == "is a folder, not a pose file"
    assert not_there(tmp_path / "file.txt", "dataset folder", folder=True) == "is a file, not a dataset folder"
    assert not_there(tmp_path / "dangling", "image") == f"broken symbolic link to {tmp_path / 'gone.png'}"
    assert not_there(tmp_path / "loop1", "image") == "symbolic link loop"
    assert not_there(tmp_path / "none", "image") == "no such image"

import os
import stat

import pytest

from tts_maml.files import atomic_save, atomic_write, atomic_write_text, remove_stale_temporaries


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_files_get_the_mode_of_any_new_file(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_save({"model": {}}, str(tmp_path / "a.pth"))
        atomic_write_text("{}", str(tmp_path / "config.json"))
        atomic_write(str(tmp_path / "curve.png"), lambda tmp: open(tmp, "wb").write(b"png"))
        with open(tmp_path / "plain.txt", "w") as f:  # what the user's own programs would give
            f.write("x")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"a.pth": mode, "config.json": mode, "curve.png": mode, "plain.txt": mode}


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    def fail(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(str(tmp_path / "x.pth"), fail)
    assert os.listdir(tmp_path) == []



def test_stale_temporaries_of_a_killed_save_are_removed_and_nothing_else(tmp_path):
    stale = [".best_model.pth.k2j3h4_x.tmp", ".checkpoint_4.pth.0123456789abcdef.tmp"]  # mkstemp's, token_hex's
    kept = ["checkpoint_2.pth", "best_model_2.pth", "best_model.pth", ".hidden.pth", "notes.tmp",
            ".config.json.0123456789abcdef.tmp"]  # fmt: skip
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temporaries(str(tmp_path)) == stale
    assert sorted(os.listdir(tmp_path)) == sorted(kept)

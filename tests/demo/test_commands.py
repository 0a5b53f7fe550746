import io
import os
import sys

import pytest

from tts_maml.demo.commands import console_script, run_logged


def test_run_logged_appends_to_the_log_and_echoes(tmp_path):
    log, echo = str(tmp_path / "demo.log"), io.BytesIO()
    run_logged([sys.executable, "-c", "print('first')"], log)
    seconds = run_logged([sys.executable, "-c", "print('second')"], log, echo)
    text = open(log).read()
    assert seconds >= 0 and text.index("first") < text.index("second") and text.count("\n$ ") == 2
    assert echo.getvalue() == b"second\n"


def test_a_failed_command_names_the_log_with_its_tail(tmp_path):
    log = str(tmp_path / "demo.log")
    with pytest.raises(RuntimeError, match="demo.log") as e:
        run_logged([sys.executable, "-c", "import sys; print('what went wrong'); sys.exit(3)"], log)
    assert "(3)" in str(e.value) and "what went wrong" in str(e.value)


def test_console_scripts_of_this_environment():
    assert os.path.dirname(console_script("tts")) == os.path.dirname(sys.executable)

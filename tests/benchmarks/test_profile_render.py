"""benchmarks/profile_render.py: bad arguments refused in one line with exit status 2, before any scene is made."""

import pytest

from .fixtures import run_script


@pytest.mark.parametrize(
    "bad, says",
    [
        (["--batch", "0"], "argument --batch: '0' is out of range"),
        (["--repeats", "0"], "argument --repeats: '0' is out of range"),  # was a median of no times: nan
        (["--resolution", "0x48"], "argument --resolution: '0x48': expected WIDTHxHEIGHT"),
        (["--resolution", "640"], "argument --resolution: '640': expected WIDTHxHEIGHT"),
        (["--focal", "-1"], "argument --focal: '-1' is out of range"),
    ],
)
def test_bad_arguments_end_in_one_line(bad, says):
    done = run_script("profile_render.py", *bad, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr

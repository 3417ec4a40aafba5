"""argparse types shared by every command line (``gscpr`` and the paper's scripts): a value that cannot mean what
its option asks for (a negative count, NaN, a device that is not there) is refused while the arguments are parsed,
with one line naming the option, the value and what it must be, and exit status 2 (:class:`ArgumentParser`: the
usage is for ``--help``, not repeated above every error).

    parser.add_argument("--workers", type=positive_int, default=1)
    parser.add_argument("--device", type=device_arg, default=default_device())

:func:`check_device` is the same test for library callers (``ValueError``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = [
    "ArgumentParser",
    "check_device",
    "default_device",
    "device_arg",
    "finite_float",
    "fraction",
    "int_in",
    "nonnegative_float",
    "nonnegative_int",
    "open_fraction",
    "positive_float",
    "positive_int",
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, ``<prog>: error: <message> (<prog> --help: the options)``, and
    exit status 2; its sub-command parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; expected {what}") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected {what}") from None
    if not math.isfinite(value):  # float() takes "nan", "inf", "-Infinity"
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number; expected {what}")
    return value


def _checked(parse: Callable[[str, str], float], test: Callable[[float], bool], what: str, name: str) -> Callable:
    def convert(text: str):
        value = parse(text, what)
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; expected {what}")
        return value

    convert.__name__ = name  # argparse names the type in some messages
    return convert


positive_int = _checked(_int, lambda v: v >= 1, "a whole number >= 1", "positive_int")
nonnegative_int = _checked(_int, lambda v: v >= 0, "a whole number >= 0", "nonnegative_int")
positive_float = _checked(_float, lambda v: v > 0, "a finite number > 0", "positive_float")
nonnegative_float = _checked(_float, lambda v: v >= 0, "a finite number >= 0", "nonnegative_float")
finite_float = _checked(_float, lambda v: True, "a finite number", "finite_float")
fraction = _checked(_float, lambda v: 0 <= v <= 1, "a number in [0, 1]", "fraction")
open_fraction = _checked(_float, lambda v: 0 < v < 1, "a number strictly between 0 and 1", "open_fraction")


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A type taking whole numbers from ``low`` to ``high`` inclusive (e.g. a JPEG quality, an SH degree)."""
    return _checked(_int, lambda v: low <= v <= high, f"a whole number from {low} to {high}", f"int_in_{low}_{high}")


# ----------------------------------------------------------------------------- devices
def default_device() -> str:
    """``"cuda"`` where a CUDA GPU is visible, else ``"cpu"``: every command's default ``--device``."""
    import torch  # here, not at the top: `gscpr --help` and the argument types stay light

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name) -> str:
    """``name`` if this machine can compute on it, else ``ValueError`` saying why (one line).

    Accepted: ``cpu``, ``cuda`` (the current GPU; under torchrun each rank's own) and ``cuda:N`` for a visible GPU
    ``N`` (``CUDA_VISIBLE_DEVICES`` renumbers them from 0). Other torch device types are refused: gscpr's
    renderers and matchers run on the CPU and on CUDA only.
    """
    import torch

    text = str(name).strip()
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"{text!r} is not a device; expected cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return text
    if dev.type != "cuda":
        raise ValueError(f"{text!r}: gscpr runs on cpu or cuda[:N], not on {dev.type}")
    if not torch.cuda.is_available():
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(f"{text!r}: {why}; use --device cpu")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        here = (
            "there is 1 CUDA GPU here (cuda:0)"
            if count == 1
            else f"there are {count} CUDA GPUs here (cuda:0 to cuda:{count - 1})"
        )
        raise ValueError(f"{text!r}: {here}")
    return text


def device_arg(text: str) -> str:
    """The argparse type of ``--device``: :func:`check_device`'s test."""
    try:
        return check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None

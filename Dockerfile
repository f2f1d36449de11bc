# syntax=docker/dockerfile:1
# zen-watcher container image: a release build on Debian 12 (glibc, rustls/ring: no OpenSSL),
# run on distroless cc-debian12 (the same glibc, no shell) as the non-root user 65532.
#   docker build -t ghcr.io/kube-zen/zen-watcher:dev .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace (members ".", crd-gen, e2e): --locked needs every member's manifest.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p zen-watcher --bin zen-watcher \
    && install -D -m 0755 target/release/zen-watcher /out/zen-watcher

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/kube-zen/zen-watcher-rs" \
      org.opencontainers.image.description="Turns security and Kubernetes signals into Observation resources" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/zen-watcher /zen-watcher
USER 65532:65532
# Webhooks (WATCHER_PORT) and probes/metrics (METRICS_PORT).
EXPOSE 8080 9090
ENTRYPOINT ["/zen-watcher"]

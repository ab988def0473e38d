# syntax=docker/dockerfile:1
# Build stage: the full Rust toolchain, discarded after the build. It copies what cargo
# needs to accept the manifest, not only what the binary compiles from: Cargo.toml
# declares bench targets, and cargo refuses a manifest whose declared targets are
# missing even when building one binary. CI replays this stage from exactly these
# files (scripts/check-dockerfile.py), so a missing COPY fails there, not at release.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin dbconn_exporter

# Runtime: glibc and nothing else; TLS roots are compiled into the binary. The user is
# distroless's nonroot account by number, so that Kubernetes' runAsNonRoot can verify
# it without a passwd file.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dbconn_exporter /usr/local/bin/dbconn_exporter
USER 65532:65532
EXPOSE 10071
ENTRYPOINT ["/usr/local/bin/dbconn_exporter"]

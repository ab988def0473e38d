# syntax=docker/dockerfile:1
# Build stage: the full Rust toolchain, discarded after the build.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin dbconn_exporter

# Runtime: glibc and nothing else; TLS roots are compiled into the binary.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/dbconn_exporter /usr/local/bin/dbconn_exporter
USER nonroot:nonroot
EXPOSE 10071
ENTRYPOINT ["/usr/local/bin/dbconn_exporter"]

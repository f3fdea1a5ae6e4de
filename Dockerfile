# syntax=docker/dockerfile:1.7
# The release image: one static binary and CA certificates, FROM scratch.
#
# Built per platform (linux/amd64 on ubuntu-24.04, linux/arm64 on ubuntu-24.04-arm) by
# .github/workflows/release.yml; Alpine's Rust targets musl, so the binary is static by default.
# Where base images cannot be pulled, scripts/build-image assembles the same final layout from a
# locally built binary.
#
# The FROM lines name plain tags, no ARG, so Dependabot (docker ecosystem) can update them; the
# release workflow resolves each tag to its digest and builds FROM tag@digest.

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev perl make cmake
WORKDIR /src
COPY Cargo.toml Cargo.lock action.yml ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin bluegreen \
 && cp target/release/bluegreen /bluegreen

FROM alpine:3.22 AS certs
RUN apk add --no-cache ca-certificates

FROM scratch
LABEL org.opencontainers.image.source="https://github.com/org/bluegreen-action" \
      org.opencontainers.image.description="Blue-green deploys to EC2 through SSM Run Command"
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /bluegreen /bluegreen
# Tells the binary it runs as this image (the local target then starts its agent as a sibling).
ENV BLUEGREEN_ACTION_IMAGE=1
ENTRYPOINT ["/bluegreen"]

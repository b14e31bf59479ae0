# syntax=docker/dockerfile:1
#
# One image for the three wasm-faas services (faas-api, faas-dispatcher,
# faas-executor); docker-compose.yml picks the binary per service with
# `command`. Guest functions are not part of the image: build them in
# functions/ and upload them through the API.

# ---- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

# Use the image's toolchain as is. Without this, rustup would honour
# rust-toolchain.toml and download the extra components and the wasm32-wasip2
# target it lists, none of which the service binaries need.
ENV RUSTUP_TOOLCHAIN=1.95.0

WORKDIR /src
COPY . .

# The cache mounts keep the crates.io index and compiled dependencies between
# builds (BuildKit); the binaries are copied out because the target cache
# mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p faas-api -p faas-dispatcher -p faas-executor \
    && mkdir -p /out \
    && cp target/release/faas-api target/release/faas-dispatcher \
          target/release/faas-executor /out/

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --home-dir /home/faas --create-home faas

COPY --from=builder /out/faas-api /out/faas-dispatcher /out/faas-executor /usr/local/bin/

USER faas
WORKDIR /home/faas
ENV RUST_LOG=info

# The API listens here (API_LISTEN); the other two services only talk to NATS
# and S3.
EXPOSE 3000

CMD ["faas-api"]

# Herald's two binaries, api and reactor, in one small image. The web UI is embedded in api.
#   docker build -t herald .        docker run herald          (api, the default)
#   docker compose up               (NATS, reactor and api together: see docker-compose.yml)

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin api --bin reactor

FROM debian:bookworm-slim
# curl only for the health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin herald
COPY --from=builder /src/target/release/api /src/target/release/reactor /usr/local/bin/
USER herald
ENV HTTP_ADDR=0.0.0.0:3000
EXPOSE 3000
# The api's readiness; the compose file checks the reactor on its metrics address.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
STOPSIGNAL SIGTERM
CMD ["api"]

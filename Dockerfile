# syntax=docker/dockerfile:1
#
# The trigr server as a container image: built with the Rust toolchain, run on Debian slim as
# an unprivileged user, with the embedded store in the /data volume.
#
#   docker build -t trigr .
#   docker run -d --name trigr -p 3030:3030 -v trigr-data:/data trigr
#   docker logs trigr      # the first start prints each environment's secret key, once
#
# Every `TRIGR_*` setting of `trigr server` can be given with `-e` (for example
# `-e TRIGR_DATABASE_URL=postgres://…` or `-e TRIGR_RETENTION_DAYS=14`); see docs/operations.md.
# The image's health check asks GET /readyz on port 3030, which answers 200 once the store
# answers a read.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The cargo registry and the target directory are cached between builds; the binary is
# copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p trigr \
    && install -m 0755 target/release/trigr /usr/local/bin/trigr

FROM ${RUNTIME_IMAGE}
# A fixed, unprivileged user (no login, no shell) owning the data directory.
RUN groupadd --system --gid 10001 trigr \
    && useradd --system --uid 10001 --gid trigr --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin trigr \
    && mkdir /data \
    && chown trigr:trigr /data \
    && chmod 0750 /data
COPY --from=build /usr/local/bin/trigr /usr/local/bin/trigr
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3030
# No HTTP client in the slim image: bash's /dev/tcp sends the request, and the check passes
# on a `200` status line only (the server answers 503 while its store does not answer).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3030 && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# trigr finishes the requests in flight and closes the store on SIGTERM (docker stop), within
# --shutdown-timeout (30 s; give `docker stop -t` a little more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["trigr"]
CMD ["server", "--listen", "0.0.0.0:3030", "--data-dir", "/data"]

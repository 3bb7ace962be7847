# syntax=docker/dockerfile:1
#
# Souk's image: `souk` (the users, orders and payments services, `souk migrate`, `souk keys`)
# and `souk-gateway` (the REST bridge alone, a smaller process than `souk gateway`).
#
#   docker build -t souk:dev .
#   docker run --rm souk:dev --help
#
# See deploy/README.md for Compose and Kubernetes. Tools/check-deploy checks this file.

# The builder is the official Swift image on Debian 12 (bookworm), the Debian of the runtime
# stage, so the shared libraries the binaries were linked against (libpq5, libsodium23,
# libprotobuf-c1) are the very versions the runtime installs. 6.3 is the toolchain this
# repository is developed with (6.3.1); the official images publish swift:6.3-bookworm and
# patch tags such as swift:6.3.2-bookworm. Package.swift needs tools 6.1, so
# --build-arg SWIFT_IMAGE=swift:6.2-bookworm works too. Pin a digest for reproducible builds.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- build ------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build

# The C libraries' headers and the protobuf compilers (the system-library targets of
# Package.swift, and protoc for the generated code's includes).
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends \
      libpq-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler \
      protobuf-compiler libprotobuf-dev libprotoc-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first: this layer is reused until Package.swift changes. Package.resolved is
# not in the build context (.dockerignore): a local one may pin commits of a package mirror.
COPY Package.swift ./
RUN swift package resolve

COPY . .

# --static-swift-stdlib links the Swift runtime and Foundation into the binaries, so the
# runtime image needs no Swift. SwiftPM's --product takes one product, so one build each;
# the second reuses everything the first built.
RUN swift build -c release --static-swift-stdlib --product souk \
 && swift build -c release --static-swift-stdlib --product souk-gateway

# Everything the runtime stage takes, in one folder: the binaries, the resource bundles of
# the targets with resources (each service's migration SQL files, which the code finds
# next to the executable as Souk_<Target>.resources), and Swift's crash backtracer.
RUN bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
 && mkdir -p /staging \
 && cp "$bin/souk" "$bin/souk-gateway" /staging/ \
 && cp -R "$bin/Souk_SoukUsers.resources" "$bin/Souk_SoukOrders.resources" \
          "$bin/Souk_SoukPayments.resources" /staging/ \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/

# --- runtime ----------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

# Only the shared libraries the binaries link (`ldd souk`): libpq5 (PostgreSQL), libsodium23
# (EdDSA tokens, Argon2id), libprotobuf-c1 (the message codec). No curl: Compose's
# healthchecks use http-probe (bash's /dev/tcp), Kubernetes' probes are httpGet.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends libpq5 libsodium23 libprotobuf-c1 \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid, which the deployments name too (Kubernetes' runAsUser and
# fsGroup, the owner of the key files that Compose's keys job writes).
RUN groupadd --system --gid 10001 souk \
 && useradd --system --uid 10001 --gid souk --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin souk

COPY --from=build /staging/ /opt/souk/bin/
COPY deploy/http-probe /usr/local/bin/http-probe

ENV PATH=/opt/souk/bin:$PATH \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/opt/souk/bin/swift-backtrace-static

USER 10001:10001
# 8080 the gateway; 50051-50053 the RPC ports of users, orders, payments; 8081-8083 their
# admin HTTP ports (/healthz, /readyz, /metrics).
EXPOSE 8080 50051 50052 50053 8081 8082 8083

ENTRYPOINT ["souk"]
CMD ["--help"]

# syntax=docker/dockerfile:1
# clonebot: one static binary (serve, agent and the tools) on a distroless base, run as the
# non-root user 65532. Multi-platform with buildx; the version is stamped into the binary:
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=0.1.0 \
#     -t ghcr.io/clonebot/clonebot:0.1.0 --push .
#
# Base images are pinned by digest (multi-platform index digests). Re-pin them when you update:
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot

# step 1: build on the builder's own platform, cross-compiling for the target's.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm@sha256:18aedc16aa19b3fd7ded7245fc14b109e054d65d22ed53c355c899582bbb2113 AS build
ARG TARGETOS TARGETARCH
ARG VERSION=devel
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/clonebot ./cmd/clonebot

# step 2: the binary alone, with CA roots for Slack and AWS, and nothing to run but it.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/clonebot /clonebot
USER 65532:65532
ENTRYPOINT ["/clonebot"]

# clonebot: one static binary (bot, agent, tools) on a distroless base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /clonebot ./cmd/clonebot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /clonebot /clonebot
USER nonroot:nonroot
ENTRYPOINT ["/clonebot"]

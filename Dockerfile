# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on a distroless base, running as non-root.
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/praxiom ./cmd/praxiom

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/praxiom /praxiom
USER nonroot:nonroot
EXPOSE 8000
ENTRYPOINT ["/praxiom"]
CMD ["serve"]

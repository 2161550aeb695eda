# syntax=docker/dockerfile:1
# Build:  docker build -t midori-operator:dev .
# Run:    docker run --rm -p 8080:8080 -v ~/.kube/config:/kube/config:ro -e KUBECONFIG=/kube/config midori-operator:dev
# Port 8080 serves the HTTP API, /healthz, /readyz and /metrics (Prometheus).

ARG DOTNET_VERSION=10.0

# ---- build: SDK image, never shipped ----
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
# Restore layer: only the files that decide package resolution, so source edits keep it cached.
COPY global.json Directory.Build.props Directory.Packages.props BannedSymbols.txt ./
COPY src/Directory.Build.props src/
COPY src/Midori.Operator/Midori.Operator.csproj src/Midori.Operator/
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet restore src/Midori.Operator/Midori.Operator.csproj
COPY src/ src/
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Midori.Operator/Midori.Operator.csproj -c Release --no-restore -o /app /p:UseAppHost=false

# ---- final: ASP.NET Core runtime only (no SDK); Debian-based because the local provider runs dev servers via /bin/sh ----
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS final
LABEL org.opencontainers.image.title="midori-operator" \
      org.opencontainers.image.description="Kubernetes operator for PreviewSandbox live previews, with the editor's HTTP API" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
# bubblewrap confines the local provider's dev-server commands (namespaces, read-only system, no operator secrets);
# without it the local provider refuses command mode. Writable places for a non-root user; in Kubernetes the chart
# mounts emptyDirs here (read-only root filesystem).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/midori/sandboxes && chown -R 65532:65532 /var/lib/midori
COPY --from=build --chown=0:0 /app ./
# All interfaces inside the container (the built-in default is loopback, for development); ASPNETCORE_URLS works as well.
ENV Urls=http://+:8080 \
    DOTNET_EnableDiagnostics=0 \
    DOTNET_NOLOGO=1 \
    Providers__Local__RootDirectory=/var/lib/midori/sandboxes
EXPOSE 8080
# Numeric, so Kubernetes can verify runAsNonRoot without resolving a user name.
USER 65532:65532
ENTRYPOINT ["dotnet", "Midori.Operator.dll"]

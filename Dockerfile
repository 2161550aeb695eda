# syntax=docker/dockerfile:1
# Build: docker build -t midori-operator:dev .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore layer: only the files that decide package resolution, so source edits keep it cached.
COPY global.json Directory.Build.props Directory.Packages.props BannedSymbols.txt ./
COPY src/Directory.Build.props src/
COPY src/Midori.Operator/Midori.Operator.csproj src/Midori.Operator/
RUN dotnet restore src/Midori.Operator/Midori.Operator.csproj
COPY src/ src/
RUN dotnet publish src/Midori.Operator/Midori.Operator.csproj -c Release --no-restore -o /app /p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app ./
ENV ASPNETCORE_URLS=http://+:8080 \
    DOTNET_EnableDiagnostics=0 \
    Providers__Local__RootDirectory=/tmp/midori-sandboxes
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["dotnet", "Midori.Operator.dll"]

using System.Security.Cryptography;
using System.Text;
using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Builds: a program's files, uploaded as blobs, under an id derived from their content.</summary>
internal static class BuildRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Builds, async (HttpContext http, IBlobStore blobs, IAppStore store) =>
        {
            var request = await ReadAsync(http, Json.CreateBuildRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            if (request.Files.Count == 0 || request.Files.All(f => f.Path != request.EntryAssembly))
            {
                throw new BadRequestException($"The build must contain its entry assembly '{request.EntryAssembly}' (field 'files').");
            }
            var missing = request.Files.Where(f => !blobs.Exists(f.Hash)).Select(f => f.Path).ToList();
            if (missing.Count > 0)
            {
                throw new BadRequestException($"Upload these files before creating the build: {string.Join(", ", missing.Take(5))}.");
            }
            var key = string.Join('\n', request.Files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => $"{f.Path}\0{f.Hash}")) + "\n" + request.EntryAssembly;
            var buildId = "bd-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];
            await store.SaveBuildAsync(new BuildManifest(buildId, request.EntryAssembly, request.Files), http.RequestAborted);
            return Ok(new CreateBuildResponse(buildId), Json.CreateBuildResponse);
        });

        v1.MapGet(Routes.Templates.Build, async (string id, IAppStore store, HttpContext http) =>
            await store.GetBuildAsync(id, http.RequestAborted) is { } build
                ? Ok(build, Json.BuildManifest)
                : throw new NotFoundException($"No build has the id '{id}'.")).RequireAuthorization(Policies.ClientOrWorker);
    }
}

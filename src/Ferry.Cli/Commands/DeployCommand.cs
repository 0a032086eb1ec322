using System.Diagnostics;
using System.Text.Json;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry deploy</c>: build, upload, describe and publish an app as the next version of a deployed app. Nothing
/// changes on the server until the program has built and described itself, so a failure keeps the current version.
/// </summary>
internal static class DeployCommand
{
    public static async Task<int> RunAsync(string target, string? name, string? tag, string? server, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var (client, version, _) = await DeployAsync(RunTarget.Parse(target).Path, name, "", tag, server, ephemeral: false, cancellationToken).ConfigureAwait(false);
        using (client)
        {
            Output.Step($"Deployed {version.AppName} v{version.Version} as {version.AppId}", total.Elapsed);
            Output.Info($"Call it from any program: await Function.FromNameAsync<...>(\"{version.AppName}\", \"FUNCTION\"). History: ferry app history {version.AppName}.");
            await PrintWebUrlsAsync(client, version.AppId, cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>Prints the URLs the gateway serves the app's web endpoints at, if it has any.</summary>
    internal static async Task PrintWebUrlsAsync(FerryClient client, string appId, CancellationToken cancellationToken)
    {
        var summary = await client.SendAsync<object, AppSummary>(HttpMethod.Get, Routes.App(appId), null, null, ProtocolJsonContext.Default.AppSummary, cancellationToken).ConfigureAwait(false);
        foreach (var url in summary.WebUrls ?? [])
        {
            Output.Info($"Web endpoint: {url} (or {Ferry.Web.WebUrls.PathForm(url)})");
        }
    }

    /// <summary>
    /// Builds, uploads and describes the program, then deploys it (as a served, ephemeral version when
    /// <paramref name="ephemeral"/>); returns the client, the new version and the definition it runs.
    /// </summary>
    public static async Task<(FerryClient Client, AppVersion Version, AppDefinition Definition)> DeployAsync(
        string path, string? name, string nameSuffix, string? tag, string? server, bool ephemeral, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var connecting = ControlPlane.ConnectAsync(server, startLocal: true, cancellationToken);
        var program = await Output.StatusAsync("Building…", () => ProjectBuilder.BuildAsync(path, cancellationToken)).ConfigureAwait(false);
        Output.Step(program.Rebuilt ? $"Built {path}" : $"Build of {path} is up to date", clock.Elapsed);

        clock.Restart();
        var definition = await Output.StatusAsync("Describing…", () => DescribeAsync(program, cancellationToken)).ConfigureAwait(false);
        Output.Step($"Described {definition.Name}: {definition.Functions.Count} function(s)", clock.Elapsed);

        clock.Restart();
        var client = await Output.StatusAsync("Connecting to the server…", () => connecting).ConfigureAwait(false);
        try
        {
            var (buildId, uploaded, bytes) = await Output.StatusAsync("Uploading…", () => ControlPlane.UploadAsync(client, program, cancellationToken)).ConfigureAwait(false);
            Output.Step(uploaded == 0 ? "Upload skipped: the server has this build" : $"Uploaded {uploaded} files ({bytes / 1024.0:0} KiB)", clock.Elapsed);
            var source = $"{Environment.UserName}@{Environment.MachineName}:{Path.GetFullPath(path)}";
            var version = await client.SendAsync(HttpMethod.Post, Routes.Deployments, new DeployRequest((name ?? definition.Name) + nameSuffix, buildId, definition, tag, source, ephemeral),
                ProtocolJsonContext.Default.DeployRequest, ProtocolJsonContext.Default.AppVersion, cancellationToken).ConfigureAwait(false);
            return (client, version, definition);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Runs the program in describe mode: it prints its definition without running anything.</summary>
    /// <exception cref="CliException">The program failed to describe itself; the message carries what it printed.</exception>
    public static async Task<AppDefinition> DescribeAsync(BuiltProgram program, CancellationToken cancellationToken)
    {
        var output = Path.Combine(Path.GetTempPath(), $"ferry-describe-{Guid.NewGuid():N}.json");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(Path.Combine(program.OutputDir, program.EntryAssembly));
        info.Environment[FerryEnv.Mode] = FerryModes.Describe;
        info.Environment[FerryEnv.DescribeOutput] = output;
        try
        {
            using var process = Process.Start(info) ?? throw new CliException("Could not start the program with `dotnet`.");
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            var printed = ((await stderr.ConfigureAwait(false)) + (await stdout.ConfigureAwait(false))).Trim();
            if (process.ExitCode != 0 || !File.Exists(output))
            {
                throw new CliException($"The program failed to describe its app (exit code {process.ExitCode}); nothing was deployed and the current version keeps running. It printed: {(printed.Length == 0 ? "nothing" : printed)}");
            }
            return JsonSerializer.Deserialize(await File.ReadAllTextAsync(output, cancellationToken).ConfigureAwait(false), ProtocolJsonContext.Default.AppDefinition)
                ?? throw new CliException("The program described no app; nothing was deployed.");
        }
        finally
        {
            File.Delete(output);
        }
    }
}

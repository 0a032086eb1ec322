using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry app rollback APP [VERSION]</c>: makes an earlier version current again, as a new version, with the same
/// drain rules as a redeploy.
/// </summary>
internal static class AppRollbackCommand
{
    public static async Task<int> RunAsync(string app, int? version, string? server, CancellationToken cancellationToken)
    {
        if (version is < 1)
        {
            throw new CliException($"VERSION must be 1 or more, not {version}.");
        }
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var result = await client.SendAsync(HttpMethod.Post, Routes.Rollback(app), new RollbackRequest(version),
            ProtocolJsonContext.Default.RollbackRequest, ProtocolJsonContext.Default.AppVersion, cancellationToken).ConfigureAwait(false);
        Output.Info($"{result.AppName} is now v{result.Version} ({result.AppId}), running the build of v{result.RollbackOf}.");
        return 0;
    }
}

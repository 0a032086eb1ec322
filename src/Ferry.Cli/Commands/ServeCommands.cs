using Ferry.Protocol;
using Ferry.Server;
using Ferry.Worker;
using Ferry.Worker.Runtimes;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry server</c> and <c>ferry worker</c>.</summary>
internal static class ServeCommands
{
    public sealed record WorkerSettings(string Runtime, int MaxContainers, string? Gpus, double? Cpu, long? MemoryMiB, string? AptMirror = null);

    public static async Task<int> ServerAsync(string dataDir, string bind, int port, bool embeddedWorker, WorkerSettings worker, string? stateFile, bool verbose, CancellationToken cancellationToken)
    {
        var level = verbose ? LogLevel.Information : LogLevel.Warning;
        await using var server = await FerryServer.StartAsync(new ServerOptions { DataDir = dataDir, Bind = bind, Port = port, LogLevel = level }, cancellationToken).ConfigureAwait(false);
        await using var agent = embeddedWorker ? StartWorker(server.Url, Path.Combine(dataDir, "worker"), worker, level) : null;
        if (stateFile is not null)
        {
            await ControlPlane.WriteLocalStateAsync(server.Url, cancellationToken).ConfigureAwait(false);
        }
        Console.Error.WriteLine($"Ferry {ProtocolInfo.Version} control plane listening on {server.Url} (data in {dataDir}){(agent is null ? "" : $", with a {agent.RuntimeName} worker")}.");
        // The web host takes SIGTERM and SIGINT for itself; its stopping token is the signal to shut down.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, server.Stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Console.Error.WriteLine("Shutting down: stopping containers and the control plane.");
        if (stateFile is not null)
        {
            File.Delete(stateFile);
        }
        return 0;
    }

    public static async Task<int> WorkerAsync(Uri serverUrl, string dataDir, WorkerSettings worker, bool verbose, CancellationToken cancellationToken)
    {
        await using var agent = StartWorker(serverUrl, dataDir, worker, verbose ? LogLevel.Information : LogLevel.Warning);
        Console.Error.WriteLine($"Ferry worker serving {serverUrl} with the {agent.RuntimeName} runtime, up to {agent.Resources.MaxContainers} containers.");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return 0;
    }

    private static WorkerAgent StartWorker(Uri serverUrl, string dataDir, WorkerSettings settings, LogLevel level)
    {
        var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(level));
        var logger = loggers.CreateLogger("Ferry.Worker");
        var runtime = RuntimeSelector.Select(settings.Runtime, dataDir, logger, settings.AptMirror);
        var options = new WorkerOptions
        {
            ServerUrl = serverUrl,
            DataDir = dataDir,
            MaxContainers = settings.MaxContainers,
            Gpus = settings.Gpus is null ? null : GpuInventory.Parse(settings.Gpus),
            Cpu = settings.Cpu,
            MemoryMiB = settings.MemoryMiB,
            Runtime = runtime.Name,
        };
        var agent = new WorkerAgent(options, runtime, logger);
        agent.Start();
        return agent;
    }
}

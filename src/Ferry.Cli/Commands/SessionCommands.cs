using Ferry.Client;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry shell</c> and <c>ferry container exec</c>: a command whose input and output cross a session socket.</summary>
internal static class SessionCommands
{
    public static async Task<int> ExecAsync(string containerId, string[] command, string? server, CancellationToken cancellationToken)
    {
        if (command.Length == 0)
        {
            throw new CliException("Name the command to run: ferry container exec ID -- COMMAND [ARGS...].", 2);
        }
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        return await RunAsync(client, Routes.Exec(containerId), [], command, rawTerminal: false, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<int> ShellAsync(string target, string? command, string? server, CancellationToken cancellationToken)
    {
        var parsed = RunTarget.Parse(target);
        if (parsed.Name is null)
        {
            throw new CliException("Name the function whose container to open: ferry shell app.cs::FUNCTION.", 2);
        }
        var (client, program, app) = await RunCommand.CreateAppAsync(parsed, detach: false, server, cancellationToken).ConfigureAwait(false);
        using var owned = client;
        try
        {
            var published = await RunCommand.RunLocalAsync(program, client, app.AppId, FerryModes.Publish, null, [], cancellationToken).ConfigureAwait(false);
            if (published != 0)
            {
                return published;
            }
            var interactive = command is null && !Console.IsInputRedirected && !Console.IsOutputRedirected;
            string[] args = command is not null
                ? ["/bin/sh", "-c", command]
                : interactive
                    // script(1) gives the shell a terminal inside the container; this side passes keys through raw.
                    ? ["/usr/bin/env", $"TERM={Environment.GetEnvironmentVariable("TERM") ?? "xterm"}", "script", "-qfec",
                        $"stty cols {Console.WindowWidth} rows {Console.WindowHeight} 2>/dev/null; exec /bin/bash -i", "/dev/null"]
                    : ["/bin/bash"];
            if (interactive)
            {
                Output.Info($"Opening a shell in {parsed.Name}'s image; building it first if needed. Exit with Ctrl-D.");
            }
            return await RunAsync(client, Routes.Shell(app.AppId), [("function", parsed.Name)], args, interactive, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await RunCommand.StopAppAsync(client, app.AppId).ConfigureAwait(false);
        }
    }

    /// <summary>Relays this terminal to a session and returns the remote command's exit code.</summary>
    private static async Task<int> RunAsync(FerryClient client, string path, IEnumerable<(string Name, string Value)> query, string[] command, bool rawTerminal, CancellationToken cancellationToken)
    {
        var server = client.ServerUrl;
        var parameters = query.Concat(command.Select(a => ("arg", a))).Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}");
        var url = new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = "/" + path,
            Query = string.Join('&', parameters),
        }.Uri;
        using var socket = new ClientWebSocket();
        Credentials.Apply(socket.Options, client.Token, client.Fingerprint);
        await socket.ConnectAsync(url, cancellationToken).ConfigureAwait(false);
        var saved = rawTerminal ? Stty("-g") : null;
        if (saved is not null)
        {
            Stty("raw", "-echo");
        }
        try
        {
            _ = Task.Run(() => PumpStdinAsync(socket), CancellationToken.None);
            return await ReceiveAsync(socket, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (saved is not null)
            {
                Stty(saved.Trim());
            }
        }
    }

    private static async Task<int> ReceiveAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        await using var stdout = Console.OpenStandardOutput();
        await using var stderr = Console.OpenStandardError();
        var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            message.SetLength(0);
            ValueWebSocketReceiveResult result;
            do
            {
                try
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                }
                catch (WebSocketException)
                {
                    throw new CliException("The session ended without the command's exit code: the server or worker went away.");
                }
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new CliException("The session ended without the command's exit code: the server or worker went away.");
                }
                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);
            var frame = message.GetBuffer().AsMemory(0, (int)message.Length);
            if (frame.Length == 0)
            {
                continue;
            }
            switch (frame.Span[0])
            {
                case SessionFrames.Stdout:
                    await stdout.WriteAsync(frame[1..], cancellationToken).ConfigureAwait(false);
                    await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case SessionFrames.Stderr:
                    await stderr.WriteAsync(frame[1..], cancellationToken).ConfigureAwait(false);
                    await stderr.FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case SessionFrames.Exit:
                    return int.Parse(Encoding.ASCII.GetString(frame.Span[1..]), CultureInfo.InvariantCulture);
            }
        }
    }

    private static async Task PumpStdinAsync(ClientWebSocket socket)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            await using var stdin = Console.OpenStandardInput();
            int read;
            while ((read = await stdin.ReadAsync(buffer.AsMemory(1, buffer.Length - 1)).ConfigureAwait(false)) > 0)
            {
                buffer[0] = SessionFrames.Stdin;
                await socket.SendAsync(buffer.AsMemory(0, read + 1), WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
            }
            await socket.SendAsync(new[] { SessionFrames.StdinClosed }, WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
            // The session ended first.
        }
    }

    /// <summary>Runs stty on this terminal; returns its output, or null where there is no terminal.</summary>
    private static string? Stty(params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo("stty") { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}

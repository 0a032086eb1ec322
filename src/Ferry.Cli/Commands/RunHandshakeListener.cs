using System.Net.Sockets;
using System.Text;
using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary>
/// The CLI's side of <see cref="FerryEnv.RunSocket"/>: waits for the local program to say it checked its target and
/// arguments, then hands it the id of the app created for it.
/// </summary>
internal sealed class RunHandshakeListener : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Socket _listener;
    private Socket? _program;

    private RunHandshakeListener(string directory, Socket listener)
    {
        _directory = directory;
        _listener = listener;
    }

    public string SocketPath => Path.Combine(_directory, "run.sock");

    public static RunHandshakeListener Create()
    {
        var directory = Directory.CreateTempSubdirectory("ferry-run-").FullName;
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(directory, "run.sock")));
        listener.Listen(1);
        return new RunHandshakeListener(directory, listener);
    }

    /// <summary>Completes when the program has connected and written <c>ready</c>.</summary>
    public async Task WaitForReadyAsync(CancellationToken cancellationToken)
    {
        var program = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        _program = program;
        var buffer = new byte[16];
        var read = 0;
        while (read < 6)
        {
            var n = await program.ReceiveAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new CliException("The program closed its connection to ferry run before it was ready.");
            }
            read += n;
        }
        if (Encoding.ASCII.GetString(buffer, 0, read) != "ready\n")
        {
            throw new CliException("The program sent ferry run something other than it expected; is it built with this version of the Ferry SDK?");
        }
    }

    /// <summary>Tells the ready program which app it runs for.</summary>
    public async Task SendAppAsync(string appId, CancellationToken cancellationToken)
    {
        var program = _program ?? throw new InvalidOperationException("The program has not said it is ready.");
        await program.SendAsync(Encoding.UTF8.GetBytes(appId + "\n"), cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _program?.Dispose();
        _listener.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}

using System.Collections;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Ferry.Placeholder;
using Ferry.Protocol;

// A placeholder container: the runtime starts, Ferry's assemblies load and warm up, and the process waits on its
// standard input for the app it is to become. Standard input closing first means the worker retired it.
Warmup.Run();
var stdout = Console.OpenStandardOutput();
stdout.Write(Encoding.ASCII.GetBytes(PlaceholderSignals.Ready + "\n"));
stdout.Flush();
var line = Specializer.ReadLine(Console.OpenStandardInput());
if (string.IsNullOrEmpty(line))
{
    return 0;
}
var specialization = JsonSerializer.Deserialize(line, ProtocolJsonContext.Default.PlaceholderSpecialization)
    ?? throw new InvalidDataException("The worker sent no specialisation.");
return Specializer.Run(specialization);

namespace Ferry.Placeholder
{
    /// <summary>Loads and JIT-compiles, ahead of any app, what every container's start-up runs.</summary>
    internal static class Warmup
    {
        public static void Run()
        {
            // Loading the assemblies touches no type's static state: the SDK reads its environment only once the app
            // runs, after the environment has been replaced.
            _ = typeof(Ferry.App).Assembly;
            _ = typeof(Ferry.Web.WebEndpointAttribute).Assembly;
            var bytes = JsonSerializer.SerializeToUtf8Bytes(new ContainerReady(1), ProtocolJsonContext.Default.ContainerMessage);
            _ = JsonSerializer.Deserialize(bytes, ProtocolJsonContext.Default.ContainerMessage);
            try
            {
                // Blocking keeps the main thread for the app's Main, as in a freshly started process; there is no
                // synchronization context here to deadlock on.
#pragma warning disable VSTHRD002
                ConnectOnceAsync().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or System.Net.WebSockets.WebSocketException or OperationCanceledException)
            {
                // Only a warm-up: the container connects for real later, and says so if it cannot.
            }
            // Compiling Ferry's code now, while no cold start waits, saves the app's start-up most of its JIT time.
            foreach (var assembly in new[] { typeof(Ferry.App).Assembly, typeof(ContainerReady).Assembly })
            {
                Prepare(assembly);
            }
        }

        /// <summary>
        /// Runs the container's connection once against a loopback listener of its own: the TCP connect, the WebSocket
        /// handshake and one message each way, as a container does with the control plane. Plain sockets only, so no
        /// proxy or TLS setting is read from the placeholder's environment.
        /// </summary>
        private static async Task ConnectOnceAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
                var serving = ServeOnceAsync(listener, timeout.Token);
                using var socket = await Ferry.Hosting.ContainerSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/warmup"),
                    new Dictionary<string, string> { ["Authorization"] = "Bearer warmup" }, timeout.Token).ConfigureAwait(false);
                var messages = new Ferry.Protocol.Transport.MessageSocket<ContainerMessage, ContainerMessage>(socket,
                    ProtocolJsonContext.Default.ContainerMessage, ProtocolJsonContext.Default.ContainerMessage);
                await messages.SendAsync(new ContainerReady(1), timeout.Token).ConfigureAwait(false);
                _ = await messages.ReceiveAsync(timeout.Token).ConfigureAwait(false);
                await serving.ConfigureAwait(false);
            }
            finally
            {
                listener.Stop();
            }
        }

        private static async Task ServeOnceAsync(System.Net.Sockets.TcpListener listener, CancellationToken cancellationToken)
        {
            using var client = await listener.AcceptTcpClientAsync(cancellationToken).ConfigureAwait(false);
            var stream = client.GetStream();
            var head = new List<byte>();
            var one = new byte[1];
            while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                if (await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
                {
                    return;
                }
                head.Add(one[0]);
            }
            var key = Encoding.ASCII.GetString([.. head]).Split("\r\n").Select(l => l.Split(':', 2))
                .First(p => p.Length == 2 && p[0].Trim().Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))[1].Trim();
            var accept = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), cancellationToken).ConfigureAwait(false);
            using var server = System.Net.WebSockets.WebSocket.CreateFromStream(stream, new System.Net.WebSockets.WebSocketCreationOptions { IsServer = true });
            var messages = new Ferry.Protocol.Transport.MessageSocket<ContainerMessage, ContainerMessage>(server,
                ProtocolJsonContext.Default.ContainerMessage, ProtocolJsonContext.Default.ContainerMessage);
            var received = await messages.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            await messages.SendAsync(received ?? new ContainerReady(1), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// JIT-compiles the assembly's non-generic methods without running them (no static constructor runs, so no
        /// type reads the placeholder's environment early).
        /// </summary>
        private static void Prepare(System.Reflection.Assembly assembly)
        {
            const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic
                | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly;
            foreach (var type in assembly.GetTypes())
            {
                if (type.ContainsGenericParameters)
                {
                    continue;
                }
                foreach (var method in type.GetMethods(all).Cast<System.Reflection.MethodBase>().Concat(type.GetConstructors(all)))
                {
                    if (method.IsAbstract || method.ContainsGenericParameters || method.MethodImplementationFlags.HasFlag(System.Reflection.MethodImplAttributes.InternalCall))
                    {
                        continue;
                    }
                    try
                    {
                        System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(method.MethodHandle);
                    }
                    catch (Exception e) when (e is ArgumentException or BadImageFormatException or InvalidOperationException or NotSupportedException or IOException or TypeLoadException)
                    {
                    }
                }
            }
        }
    }

    /// <summary>Turns this process into the app's container.</summary>
    internal static partial class Specializer
    {
        /// <summary>One line from <paramref name="input"/>, read byte by byte so nothing after it is consumed.</summary>
        public static string? ReadLine(Stream input)
        {
            var buffer = new MemoryStream();
            var one = new byte[1];
            while (input.Read(one, 0, 1) == 1)
            {
                if (one[0] == (byte)'\n')
                {
                    return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
                }
                buffer.WriteByte(one[0]);
            }
            return buffer.Length == 0 ? null : Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }

        public static int Run(PlaceholderSpecialization specialization)
        {
            ReplaceEnvironment(specialization.Environment);
            Directory.SetCurrentDirectory(specialization.WorkingDirectory);
            // The worker has applied the container's memory limit by now; the GC read the limits at start, before it.
            GC.RefreshMemoryLimit();
            // What the app sees as its own location and entry assembly, as if it had been started directly.
            AppContext.SetData("APP_CONTEXT_BASE_DIRECTORY", Path.GetDirectoryName(specialization.Assembly) + Path.DirectorySeparatorChar);
            var context = new AppLoadContext(specialization.Assembly);
            var assembly = context.LoadFromAssemblyPath(specialization.Assembly);
            Assembly.SetEntryAssembly(assembly);
            var entry = assembly.EntryPoint
                ?? throw new InvalidOperationException($"{specialization.Assembly} has no entry point.");
            // Type.GetType and Assembly.Load by name, from any assembly, look in the app's context first.
            using var reflection = context.EnterContextualReflection();
            var result = entry.Invoke(null, BindingFlags.DoNotWrapExceptions, null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()], null);
            return result is int code ? code : Environment.ExitCode;
        }

        /// <summary>
        /// Replaces the environment both where .NET reads it and in the C library's copy, which native code (a GPU
        /// driver reading CUDA_VISIBLE_DEVICES, say) and child processes started outside .NET read.
        /// </summary>
        private static void ReplaceEnvironment(IReadOnlyDictionary<string, string> environment)
        {
            foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            {
                if (entry.Key is string key && !environment.ContainsKey(key))
                {
                    Environment.SetEnvironmentVariable(key, null);
                }
            }
            _ = ClearEnv();
            foreach (var (key, value) in environment)
            {
                Environment.SetEnvironmentVariable(key, value);
                _ = SetEnv(key, value, 1);
            }
        }

        [LibraryImport("libc", EntryPoint = "clearenv")]
        private static partial int ClearEnv();

        [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
        private static partial int SetEnv(string name, string value, int overwrite);
    }
}

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
            using var socket = new System.Net.WebSockets.ClientWebSocket();
            socket.Options.SetRequestHeader("Authorization", "Bearer x");
            using var http = new HttpClient();
            _ = new Uri("http://127.0.0.1:1/x");
            // Compiling Ferry's code now, while no cold start waits, saves the app's start-up most of its JIT time.
            foreach (var assembly in new[] { typeof(Ferry.App).Assembly, typeof(ContainerReady).Assembly })
            {
                Prepare(assembly);
            }
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

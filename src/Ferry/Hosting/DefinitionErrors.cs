using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>
/// When Ferry runs a program, a mistake in how it defines its app (a lambda without a name, a bad package name, an
/// option out of range) throws from the SDK before <c>app.RunAsync</c> is reached. Instead of the runtime's crash
/// report, the program prints the message and where in the user's code it happened, and exits with code 1.
/// </summary>
internal static class DefinitionErrors
{
    /// <summary>Set by <see cref="App.RunAsync"/>: a program Ferry started that ends without it has run nothing.</summary>
    internal static volatile bool RunCalled;

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The handler must be in place before user code defines its app, and only under Ferry.")]
    internal static void Install()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(FerryEnv.Mode)))
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                if (!RunCalled && Environment.ExitCode == 0)
                {
                    Console.Error.WriteLine(MissingRunMessage);
                    Console.Error.Flush();
                    Environment.ExitCode = 1;
                }
            };
            AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            {
                if (e.ExceptionObject is Exception error && Describe(error) is { } message)
                {
                    Console.Error.WriteLine(message);
                    Console.Error.Flush();
                    Environment.Exit(1);
                }
            };
        }
    }

    /// <summary>What a program that Ferry started and that never called <see cref="App.RunAsync"/> prints as it ends.</summary>
    internal const string MissingRunMessage =
        "Error: the program ended without calling app.RunAsync, so Ferry ran nothing. End the program with `return await app.RunAsync(args);` after the app's registrations.";

    /// <summary>The one-line report of a definition error, or null when the exception is not one the SDK raised.</summary>
    internal static string? Describe(Exception error)
    {
        var fromSdk = error is FerryException || (error is ArgumentException or InvalidOperationException && error.TargetSite?.DeclaringType?.Assembly == typeof(App).Assembly);
        if (!fromSdk)
        {
            return null;
        }
        var caller = new StackTrace(error, fNeedFileInfo: true).GetFrames()
            .FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Assembly != typeof(App).Assembly && f.GetFileName() is not null);
        var where = caller is null ? "" : $" (at {caller.GetFileName()}:{caller.GetFileLineNumber()})";
        return $"Error: {error.Message}{where}";
    }
}

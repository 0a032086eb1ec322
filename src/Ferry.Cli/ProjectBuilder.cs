using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Ferry.Cli;

/// <summary>What <c>ferry run</c> was pointed at: a file or project, and optionally an entrypoint or function.</summary>
internal sealed record RunTarget(string Path, string? Name)
{
    /// <summary>Parses <c>PATH[::NAME]</c>.</summary>
    public static RunTarget Parse(string text)
    {
        var separator = text.LastIndexOf("::", StringComparison.Ordinal);
        return separator < 0
            ? new RunTarget(text, null)
            : new RunTarget(text[..separator], text[(separator + 2)..] is { Length: > 0 } name ? name : null);
    }
}

/// <summary>A built user program, ready to upload.</summary>
internal sealed record BuiltProgram(string OutputDir, string EntryAssembly, string AppName, bool Rebuilt);

/// <summary>
/// Builds a user's app with the .NET SDK. A single <c>.cs</c> file gets a generated project that references the
/// Ferry SDK next to this CLI, so the file needs nothing but <c>using Ferry;</c>, and takes in the file's
/// <c>#:package</c>, <c>#:property</c>, <c>#:project</c> and <c>#:sdk</c> directives. An unchanged input skips the build.
/// </summary>
internal static class ProjectBuilder
{
    public static async Task<BuiltProgram> BuildAsync(string path, CancellationToken cancellationToken)
    {
        FerryHome.Prepare();
        var full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full) && full.EndsWith(".cs", StringComparison.OrdinalIgnoreCase))
        {
            return await BuildSingleFileAsync(full, cancellationToken).ConfigureAwait(false);
        }
        if (File.Exists(full) && full.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
        {
            return await BuildProjectAsync(full, cancellationToken).ConfigureAwait(false);
        }
        if (Directory.Exists(full))
        {
            var projects = Directory.GetFiles(full, "*.csproj");
            return projects.Length switch
            {
                1 => await BuildProjectAsync(projects[0], cancellationToken).ConfigureAwait(false),
                0 => throw new CliException($"The directory '{path}' has no .csproj file. Point ferry run at a .cs file or a project."),
                _ => throw new CliException($"The directory '{path}' has several projects; name one: {string.Join(", ", projects.Select(System.IO.Path.GetFileName))}."),
            };
        }
        throw new CliException(File.Exists(full)
            ? $"'{path}' is neither a .cs file, a .csproj file nor a directory."
            : $"'{path}' does not exist.");
    }

    private static async Task<BuiltProgram> BuildSingleFileAsync(string file, CancellationToken cancellationToken)
    {
        var name = SafeName(System.IO.Path.GetFileNameWithoutExtension(file));
        var sdkDir = AppContext.BaseDirectory;
        var source = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
        var directives = FileDirectives.Parse(file, source);
        // Only a file with web endpoints pays for ASP.NET Core: the SDK core does not depend on it.
        var web = UsesWeb(source);
        var webReference = web
            ? $"""
                <FrameworkReference Include="Microsoft.AspNetCore.App" />
                <Reference Include="Ferry.Web"><HintPath>{System.IO.Path.Combine(sdkDir, "Ferry.Web.dll")}</HintPath></Reference>
            """
            : "";
        var project = $"""
            <Project Sdk="{directives.SdkAttribute}">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net{Environment.Version.Major}.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <AssemblyName>{name}</AssemblyName>
                <RootNamespace>{name}</RootNamespace>
                <InvariantGlobalization>true</InvariantGlobalization>
                <SatelliteResourceLanguages>en</SatelliteResourceLanguages>
                <TieredPGO>true</TieredPGO>
                <EnableDefaultCompileItems>false</EnableDefaultCompileItems>
                <GenerateDocumentationFile>false</GenerateDocumentationFile>
                <!-- Lets the compiler accept the file's #: directives, which are read into this project. -->
                <Features>$(Features);FileBasedProgram</Features>
                <ProvideCommandLineArgs>true</ProvideCommandLineArgs>
              </PropertyGroup>
              <!-- The compiler's arguments, so that an edit of the file alone is compiled without MSBuild. -->
              <Target Name="FerryRecordCompile" AfterTargets="CoreCompile" Condition="'@(CscCommandLineArgs)' != ''">
                <WriteLinesToFile File="$(MSBuildProjectDirectory)/{CompileArguments}" Lines="@(CscCommandLineArgs)" Overwrite="true" />
                <WriteLinesToFile File="$(MSBuildProjectDirectory)/{CompilerLocation}" Lines="$(RoslynTargetsPath)" Overwrite="true" />
              </Target>
            {directives.ToMsBuild()}
              <ItemGroup>
                <Compile Include="{file}" />
                <Using Include="Ferry" />
                <Reference Include="Ferry"><HintPath>{System.IO.Path.Combine(sdkDir, "Ferry.dll")}</HintPath></Reference>
                <Reference Include="Ferry.Protocol"><HintPath>{System.IO.Path.Combine(sdkDir, "Ferry.Protocol.dll")}</HintPath></Reference>
                <Reference Include="Cronos"><HintPath>{System.IO.Path.Combine(sdkDir, "Cronos.dll")}</HintPath></Reference>
                <Analyzer Include="{System.IO.Path.Combine(sdkDir, "Ferry.Generators.dll")}" />
            {webReference}
              </ItemGroup>
            </Project>
            """;
        var key = Hash(file);
        var work = System.IO.Path.Combine(FerryHome.Builds, $"{name}-{key[..12]}");
        var output = System.IO.Path.Combine(work, "out");
        Directory.CreateDirectory(work);
        var projectPath = System.IO.Path.Combine(work, $"{name}.csproj");
        if (!File.Exists(projectPath) || await File.ReadAllTextAsync(projectPath, cancellationToken).ConfigureAwait(false) != project)
        {
            await File.WriteAllTextAsync(projectPath, project, cancellationToken).ConfigureAwait(false);
        }
        // Everything the build reads but the file itself: while it is unchanged, the compiler's arguments are too.
        var compileKey = Hash(project + "\n"
            + FileStamp(System.IO.Path.Combine(sdkDir, "Ferry.dll")) + FileStamp(System.IO.Path.Combine(sdkDir, "Ferry.Protocol.dll"))
            + FileStamp(System.IO.Path.Combine(sdkDir, "Ferry.Generators.dll"))
            + (web ? FileStamp(System.IO.Path.Combine(sdkDir, "Ferry.Web.dll")) : ""));
        var inputs = Hash(compileKey + "\n" + source);
        var stamp = System.IO.Path.Combine(work, "inputs.sha256");
        var entry = name + ".dll";
        if (File.Exists(stamp) && await File.ReadAllTextAsync(stamp, cancellationToken).ConfigureAwait(false) == inputs
            && File.Exists(System.IO.Path.Combine(output, entry)))
        {
            return new BuiltProgram(output, entry, name, Rebuilt: false);
        }
        File.Delete(stamp);
        var compileStamp = System.IO.Path.Combine(work, "compile.sha256");
        if (File.Exists(compileStamp) && await File.ReadAllTextAsync(compileStamp, cancellationToken).ConfigureAwait(false) == compileKey
            && File.Exists(System.IO.Path.Combine(output, entry))
            && await CompileOnlyAsync(work, System.IO.Path.Combine(output, entry), file, cancellationToken).ConfigureAwait(false))
        {
            await File.WriteAllTextAsync(stamp, inputs, cancellationToken).ConfigureAwait(false);
            return new BuiltProgram(output, entry, name, Rebuilt: true);
        }
        File.Delete(compileStamp);
        var started = DateTime.UtcNow;
        await RunDotnetBuildAsync(projectPath, output, file, cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(stamp, inputs, cancellationToken).ConfigureAwait(false);
        // Only arguments this build recorded describe it: MSBuild skips the compile, and the record, when it is current.
        if (File.Exists(System.IO.Path.Combine(work, CompileArguments)) && File.GetLastWriteTimeUtc(System.IO.Path.Combine(work, CompileArguments)) >= started.AddSeconds(-1))
        {
            await File.WriteAllTextAsync(compileStamp, compileKey, cancellationToken).ConfigureAwait(false);
        }
        return new BuiltProgram(output, entry, name, Rebuilt: true);
    }

    /// <summary>Where the generated project's build records the compiler's arguments, beside the project.</summary>
    private const string CompileArguments = "compile.rsp";

    /// <summary>Where the generated project's build records the compiler's directory (RoslynTargetsPath).</summary>
    private const string CompilerLocation = "compiler.txt";

    /// <summary>
    /// Compiles a single-file app whose file alone changed since its last MSBuild build: the C# compiler with the
    /// arguments that build recorded (references, defines, analyzers and generators), through the compiler server
    /// that build left running, writing straight to <paramref name="outputAssembly"/>. MSBuild takes seconds to
    /// evaluate the project and check its targets; the compile alone takes a fraction of that. True when it built;
    /// false when the fast path cannot be used (the compiler cannot be found or started, or it failed on something
    /// other than the user's file), and the caller builds with MSBuild. Errors in the user's file are thrown as they
    /// would be from MSBuild.
    /// </summary>
    private static async Task<bool> CompileOnlyAsync(string work, string outputAssembly, string userFile, CancellationToken cancellationToken)
    {
        var argumentsFile = System.IO.Path.Combine(work, CompileArguments);
        var locationFile = System.IO.Path.Combine(work, CompilerLocation);
        if (!File.Exists(argumentsFile) || !File.Exists(locationFile))
        {
            return false;
        }
        var compiler = System.IO.Path.Combine((await File.ReadAllTextAsync(locationFile, cancellationToken).ConfigureAwait(false)).Trim(), "bincore", "csc.dll");
        if (!File.Exists(compiler))
        {
            return false;
        }
        var arguments = (await File.ReadAllLinesAsync(argumentsFile, cancellationToken).ConfigureAwait(false))
            .Where(a => a.Length > 0 && a != "/noconfig" && !a.StartsWith("/out:", StringComparison.Ordinal) && !a.StartsWith("/refout:", StringComparison.Ordinal))
            .Append("/out:" + outputAssembly);
        var responseFile = System.IO.Path.Combine(work, "compile-only.rsp");
        await File.WriteAllLinesAsync(responseFile, arguments, cancellationToken).ConfigureAwait(false);
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "exec", compiler, "-shared", "-nologo", "-noconfig", "@" + responseFile })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        Process? process;
        try
        {
            process = Process.Start(info);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
        if (process is null)
        {
            return false;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (process.ExitCode == 0)
            {
                return true;
            }
            var errors = (await stdout.ConfigureAwait(false) + "\n" + await stderr.ConfigureAwait(false))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => l.Contains(": error ", StringComparison.Ordinal))
                .Distinct()
                .ToList();
            // Errors anywhere but the user's file (a reference gone, the SDK updated) are for MSBuild to sort out.
            if (process.ExitCode != 1 || errors.Count == 0 || !errors.All(l => l.StartsWith(userFile + "(", StringComparison.Ordinal)))
            {
                return false;
            }
            throw new CliException($"The build of {userFile} failed:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");
        }
    }

    private static async Task<BuiltProgram> BuildProjectAsync(string projectPath, CancellationToken cancellationToken)
    {
        var name = System.IO.Path.GetFileNameWithoutExtension(projectPath);
        var work = System.IO.Path.Combine(FerryHome.Builds, $"{SafeName(name)}-{Hash(projectPath)[..12]}");
        var output = System.IO.Path.Combine(work, "out");
        var entry = name + ".dll";
        var stamp = System.IO.Path.Combine(work, "inputs.sha256");
        var inputs = ProjectInputs(projectPath);
        Directory.CreateDirectory(work);
        if (File.Exists(stamp) && await File.ReadAllTextAsync(stamp, cancellationToken).ConfigureAwait(false) == inputs
            && File.Exists(System.IO.Path.Combine(output, entry)))
        {
            return new BuiltProgram(output, entry, SafeName(name), Rebuilt: false);
        }
        File.Delete(stamp);
        await RunDotnetBuildAsync(projectPath, output, projectPath, cancellationToken).ConfigureAwait(false);
        if (!File.Exists(System.IO.Path.Combine(output, entry)))
        {
            throw new CliException($"Building '{projectPath}' produced no {entry}. Is it an executable project (OutputType Exe)?");
        }
        await File.WriteAllTextAsync(stamp, inputs, cancellationToken).ConfigureAwait(false);
        return new BuiltProgram(output, entry, SafeName(name), Rebuilt: true);
    }

    /// <summary>
    /// A digest of everything a project's build reads that a user edits: every file under its directory and under the
    /// directories of the projects it references (by path, size and time; <c>bin</c>, <c>obj</c> and hidden folders
    /// aside), the MSBuild files above it, and the SDK this CLI ships. Asking MSBuild itself costs the 3 s the check is
    /// there to save. Package versions that float are not seen: pin them, or change a file to rebuild.
    /// </summary>
    internal static string ProjectInputs(string projectPath)
    {
        var text = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<string>([System.IO.Path.GetFullPath(projectPath)]);
        while (pending.TryDequeue(out var project))
        {
            var directory = System.IO.Path.GetDirectoryName(project)!;
            if (!seen.Add(directory))
            {
                continue;
            }
            foreach (var file in Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                         .Where(f => !IsBuildOutput(directory, f))
                         .Order(StringComparer.Ordinal))
            {
                text.Append(file).Append('|').Append(FileStamp(file)).Append('\n');
                if (file.EndsWith("proj", StringComparison.OrdinalIgnoreCase))
                {
                    foreach (var reference in ProjectReferences(file))
                    {
                        pending.Enqueue(reference);
                    }
                }
            }
            for (var above = Directory.GetParent(directory); above is not null; above = above.Parent)
            {
                foreach (var name in (string[])["Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "nuget.config", "NuGet.Config", "global.json"])
                {
                    var file = System.IO.Path.Combine(above.FullName, name);
                    if (File.Exists(file))
                    {
                        text.Append(file).Append('|').Append(FileStamp(file)).Append('\n');
                    }
                }
            }
        }
        var sdkDir = AppContext.BaseDirectory;
        foreach (var dll in (string[])["Ferry.dll", "Ferry.Protocol.dll", "Ferry.Generators.dll", "Ferry.Web.dll"])
        {
            text.Append(dll).Append('|').Append(FileStamp(System.IO.Path.Combine(sdkDir, dll))).Append('\n');
        }
        return Hash(text.ToString());
    }

    private static bool IsBuildOutput(string root, string file)
    {
        var relative = System.IO.Path.GetRelativePath(root, file).Split(System.IO.Path.DirectorySeparatorChar);
        return relative.Length > 1 && relative[..^1].Any(part => part is "bin" or "obj" or "node_modules" || part.StartsWith('.'));
    }

    private static IEnumerable<string> ProjectReferences(string projectFile)
    {
        System.Xml.Linq.XDocument document;
        try
        {
            document = System.Xml.Linq.XDocument.Load(projectFile);
        }
        catch (System.Xml.XmlException)
        {
            // The build that follows reports a broken project file far better than this check could.
            yield break;
        }
        var directory = System.IO.Path.GetDirectoryName(projectFile)!;
        foreach (var reference in document.Descendants().Where(e => e.Name.LocalName == "ProjectReference"))
        {
            if (reference.Attribute("Include")?.Value is { Length: > 0 } include && !include.Contains("$(", StringComparison.Ordinal))
            {
                var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, include.Replace('\\', System.IO.Path.DirectorySeparatorChar)));
                if (File.Exists(path))
                {
                    yield return path;
                }
            }
        }
    }

    private static async Task RunDotnetBuildAsync(string projectPath, string output, string userPath, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "build", projectPath, "-c", "Release", "-o", output, "--nologo", "-v", "quiet", "-tl:off", "-clp:NoSummary", "-p:UseSharedCompilation=true" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info) ?? throw new CliException("Could not start `dotnet build`. Is the .NET SDK installed?");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            var lines = (await stdout.ConfigureAwait(false) + "\n" + await stderr.ConfigureAwait(false))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => l.Contains(": error ", StringComparison.Ordinal) || l.Contains(": warning ", StringComparison.Ordinal) && l.Contains(" error ", StringComparison.Ordinal))
                .Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"\s*\[[^\]]*\.csproj\]$", ""))
                .Distinct()
                .ToList();
            var detail = lines.Count > 0 ? string.Join(Environment.NewLine, lines) : (await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false)).Trim();
            throw new CliException($"The build of {userPath} failed:{Environment.NewLine}{detail}");
        }
    }

    /// <summary>Whether a single-file app uses the web package: it says <c>using Ferry.Web;</c>.</summary>
    internal static bool UsesWeb(string source) =>
        System.Text.RegularExpressions.Regex.IsMatch(source, @"^\s*(global\s+)?using\s+Ferry\.Web\s*;", System.Text.RegularExpressions.RegexOptions.Multiline);

    private static string SafeName(string name)
    {
        var cleaned = new string([.. name.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_')]);
        return cleaned.Length == 0 || char.IsDigit(cleaned[0]) ? "app_" + cleaned : cleaned;
    }

    private static string FileStamp(string path) => File.Exists(path) ? $"{File.GetLastWriteTimeUtc(path).Ticks}:{new FileInfo(path).Length}" : "missing";

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}

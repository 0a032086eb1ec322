using System.Security;

namespace Ferry.Cli;

/// <summary>
/// The <c>#:</c> directives at the top of a single-file app, as a .NET 10 file-based program writes them:
/// <c>#:package Name@Version</c>, <c>#:property Name=Value</c>, <c>#:project path</c> and <c>#:sdk Name[@Version]</c>.
/// <c>ferry run</c> builds the file through a project of its own, so it reads them here and puts them into that project.
/// </summary>
internal sealed record FileDirectives(
    string Sdk,
    IReadOnlyList<(string Name, string Version)> Packages,
    IReadOnlyList<(string Name, string Value)> Properties,
    IReadOnlyList<string> Projects)
{
    private const string DefaultSdk = "Microsoft.NET.Sdk";

    /// <summary>The SDK's own package, which <c>ferry run</c> references from beside the CLI whatever version a file names.</summary>
    public const string FerryPackage = "Ferry";

    /// <summary>Reads the directives of <paramref name="text"/>, the contents of <paramref name="file"/>.</summary>
    /// <exception cref="CliException">A directive is malformed or unknown; the message names its line.</exception>
    public static FileDirectives Parse(string file, string text)
    {
        var sdk = DefaultSdk;
        var packages = new List<(string, string)>();
        var properties = new List<(string, string)>();
        var projects = new List<string>();
        var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal) || (i == 0 && line.StartsWith("#!", StringComparison.Ordinal)))
            {
                continue;
            }
            if (!line.StartsWith("#:", StringComparison.Ordinal))
            {
                // Directives come before the code, as the compiler requires of a file-based program.
                break;
            }
            var where = $"{Path.GetFileName(file)}:{i + 1}";
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var kind = space < 0 ? line[2..] : line[2..space];
            var value = space < 0 ? "" : line[(space + 1)..].Trim();
            if (value.Length == 0)
            {
                throw new CliException($"{where}: '#:{kind}' needs a value, like '#:package Humanizer@3.0.10'.");
            }
            switch (kind)
            {
                case "package":
                    var (package, version) = Split(value, '@');
                    if (version is null)
                    {
                        throw new CliException($"{where}: '#:package {value}' names no version; write '#:package {value}@VERSION'.");
                    }
                    if (!string.Equals(package, FerryPackage, StringComparison.OrdinalIgnoreCase))
                    {
                        packages.Add((package, version));
                    }
                    break;
                case "property":
                    var (name, propertyValue) = Split(value, '=');
                    if (propertyValue is null || !IsName(name))
                    {
                        throw new CliException($"{where}: '#:property {value}' is not of the form '#:property Name=Value'.");
                    }
                    properties.Add((name, propertyValue));
                    break;
                case "project":
                    var path = Path.GetFullPath(Path.Combine(directory, value));
                    if (Directory.Exists(path))
                    {
                        path = Directory.GetFiles(path, "*.csproj") is [var only] ? only
                            : throw new CliException($"{where}: the directory '{value}' must hold exactly one .csproj file.");
                    }
                    if (!File.Exists(path))
                    {
                        throw new CliException($"{where}: the project '{value}' does not exist.");
                    }
                    projects.Add(path);
                    break;
                case "sdk":
                    sdk = value;
                    break;
                default:
                    throw new CliException($"{where}: '#:{kind}' is not a directive; use #:package, #:property, #:project or #:sdk.");
            }
        }
        return new FileDirectives(sdk, packages, properties, projects);
    }

    /// <summary>The directives as MSBuild items and properties, escaped for a project file.</summary>
    public string ToMsBuild()
    {
        var lines = new List<string>();
        if (Properties.Count > 0)
        {
            lines.Add("  <PropertyGroup>");
            lines.AddRange(Properties.Select(p => $"    <{p.Name}>{SecurityElement.Escape(p.Value)}</{p.Name}>"));
            lines.Add("  </PropertyGroup>");
        }
        if (Packages.Count + Projects.Count > 0)
        {
            lines.Add("  <ItemGroup>");
            lines.AddRange(Packages.Select(p => $"    <PackageReference Include=\"{SecurityElement.Escape(p.Name)}\" Version=\"{SecurityElement.Escape(p.Version)}\" />"));
            lines.AddRange(Projects.Select(p => $"    <ProjectReference Include=\"{SecurityElement.Escape(p)}\" />"));
            lines.Add("  </ItemGroup>");
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The project's <c>Sdk</c> attribute: <c>Name</c> or <c>Name/Version</c>.</summary>
    public string SdkAttribute => Split(Sdk, '@') is (var name, { } version) ? $"{name}/{version}" : Sdk;

    private static (string Name, string? Value) Split(string text, char separator)
    {
        var at = text.IndexOf(separator, StringComparison.Ordinal);
        return at < 0 ? (text.Trim(), null) : (text[..at].Trim(), text[(at + 1)..].Trim());
    }

    private static bool IsName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}

namespace Ferry.Worker.Images;

/// <summary>Finds the Debian mirror the host's apt configuration names, so no mirror is ever hard-coded.</summary>
public static class AptSources
{
    /// <summary>
    /// The first <c>URIs:</c> of a deb822 stanza whose suites include <paramref name="suite"/>, or the first
    /// <c>deb URI suite</c> line of a one-line list; null when the host names none.
    /// </summary>
    public static string? FindMirror(string suite, string root = "/etc/apt")
    {
        var files = new List<string>();
        if (Directory.Exists(Path.Combine(root, "sources.list.d")))
        {
            files.AddRange(Directory.GetFiles(Path.Combine(root, "sources.list.d")).Order(StringComparer.Ordinal));
        }
        if (File.Exists(Path.Combine(root, "sources.list")))
        {
            files.Add(Path.Combine(root, "sources.list"));
        }
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            var mirror = file.EndsWith(".sources", StringComparison.Ordinal) ? FromDeb822(text, suite) : FromOneLine(text, suite);
            if (mirror is not null)
            {
                return mirror;
            }
        }
        return null;
    }

    internal static string? FromDeb822(string text, string suite)
    {
        foreach (var stanza in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = stanza.Split('\n')
                .Where(l => !l.TrimStart().StartsWith('#') && l.Contains(':', StringComparison.Ordinal))
                .Select(l => l.Split(':', 2))
                .GroupBy(p => p[0].Trim(), StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => g.First()[1].Trim(), StringComparer.OrdinalIgnoreCase);
            if (fields.TryGetValue("Types", out var types) && types.Split(' ').Contains("deb")
                && fields.TryGetValue("Suites", out var suites) && suites.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(suite)
                && fields.TryGetValue("URIs", out var uris))
            {
                return uris.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            }
        }
        return null;
    }

    internal static string? FromOneLine(string text, string suite)
    {
        foreach (var line in text.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("deb ", StringComparison.Ordinal)))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !p.StartsWith('[')).ToArray();
            if (parts.Length >= 3 && parts[2] == suite)
            {
                return parts[1];
            }
        }
        return null;
    }
}

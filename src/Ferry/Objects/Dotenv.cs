using System.Text;
using Ferry.Protocol;

namespace Ferry;

/// <summary>Reads dotenv files for <see cref="Secret.FromDotenv"/>; every error names the file and line.</summary>
internal static class Dotenv
{
    public static Dictionary<string, string> Parse(string text, string file)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            if (line.StartsWith("export ", StringComparison.Ordinal))
            {
                line = line[7..].TrimStart();
            }
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                throw Fail(file, i, "expected KEY=VALUE, found no '='");
            }
            var key = line[..equals].Trim();
            if (!ObjectLimits.IsEnvKey(key))
            {
                throw Fail(file, i, $"'{key}' is not a variable name (a letter or '_', then letters, digits or '_')");
            }
            values[key] = Value(line[(equals + 1)..].TrimStart(), file, i);
        }
        return values;
    }

    private static string Value(string raw, string file, int line)
    {
        if (raw.Length == 0)
        {
            return "";
        }
        var quote = raw[0];
        if (quote is not ('"' or '\''))
        {
            var comment = raw.IndexOf(" #", StringComparison.Ordinal);
            return (comment < 0 ? raw : raw[..comment]).TrimEnd();
        }
        var value = new StringBuilder();
        for (var i = 1; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c == quote)
            {
                var rest = raw[(i + 1)..].Trim();
                return rest.Length == 0 || rest.StartsWith('#') ? value.ToString() : throw Fail(file, line, "unexpected text after the closing quote");
            }
            if (quote == '"' && c == '\\' && i + 1 < raw.Length)
            {
                i++;
                value.Append(raw[i] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', var other => other });
                continue;
            }
            value.Append(c);
        }
        throw Fail(file, line, $"the value's opening {quote} is never closed");
    }

    private static InvalidRequestException Fail(string file, int index, string problem) => new($"{file}, line {index + 1}: {problem}.");
}

using System.Text;
using System.Text.Json.Nodes;

namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>
/// Turns a valid request body into a hostile one: a value anywhere in the tree (the root, a field, a list item)
/// replaced by a wrong type, a null, a non-finite or huge number, a bad string, deep nesting or a huge string; a field
/// removed or repeated; a list given null items or many copies; or the text itself cut, spliced or re-encoded.
/// Replacements are raw JSON text, so they can be what no serializer writes, such as <c>1e400</c> or <c>"\ud800"</c>.
/// </summary>
internal sealed class JsonMutator(Random random)
{
    private const string Marker = "FUZZRAW";

    /// <summary>Fields whose value the server waits on: they never get a large number, so that no request waits long.</summary>
    private static readonly HashSet<string> LongPollFields = new(StringComparer.OrdinalIgnoreCase) { "waitSeconds" };

    /// <summary>The body with one to three mutations; occasionally the unchanged body, which must be served too.</summary>
    public byte[] Mutate(JsonNode sample)
    {
        var roll = random.NextDouble();
        if (roll < 0.05)
        {
            return Encoding.UTF8.GetBytes(sample.ToJsonString());
        }
        if (roll < 0.15)
        {
            return MutateText(sample.ToJsonString());
        }
        var tree = sample.DeepClone();
        var raw = new List<string>();
        var count = random.NextDouble() < 0.75 ? 1 : random.Next(2, 4);
        for (var i = 0; i < count; i++)
        {
            tree = MutateTree(tree, raw);
        }
        var text = tree.ToJsonString();
        for (var i = 0; i < raw.Count; i++)
        {
            text = text.Replace($"\"{Marker}{i}\"", raw[i], StringComparison.Ordinal);
        }
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>A body that is not JSON at all, or not of any request, or bytes that are not UTF-8.</summary>
    public byte[] Garbage()
    {
        return random.Next(4) switch
        {
            0 => RandomBytes(random.Next(1, 512)),
            1 => Encoding.UTF8.GetBytes(Deep(random.Next(1, 3000))),
            _ => Encoding.UTF8.GetBytes(Pick(HostileValues.Bodies)),
        };
    }

    private JsonNode MutateTree(JsonNode tree, List<string> raw)
    {
        var places = new List<(JsonNode? Parent, string? Name, int Index, JsonNode? Node)> { (null, null, -1, tree) };
        Collect(tree, places);
        var (parent, name, index, node) = places[random.Next(places.Count)];
        var nearWait = name is not null && LongPollFields.Contains(name);
        switch (random.Next(10))
        {
            case 0 when parent is JsonObject removeFrom:
                removeFrom.Remove(name!);
                return tree;
            case 1 when parent is JsonObject addTo:
                // A repeated field, or one the contract does not have; the raw text may add a second "name": value pair.
                addTo[$"{Marker}key{raw.Count}"] = Raw(raw, random.Next(2) == 0 && addTo.Count > 0
                    ? $"1, \"{addTo.ElementAt(random.Next(addTo.Count)).Key}\": {Token(avoidLongWaits: true)}"
                    : Token(avoidLongWaits: true));
                return tree;
            case 2 when node is JsonArray list:
                Grow(list, raw);
                return tree;
            case 3:
                return Replace(tree, parent, name, index, Raw(raw, Deep(random.Next(10) < 8 ? random.Next(2, 80) : random.Next(80, 5000))));
            case 4:
                return Replace(tree, parent, name, index, Raw(raw, HugeString()));
            default:
                return Replace(tree, parent, name, index, Raw(raw, Token(nearWait)));
        }
    }

    private void Grow(JsonArray list, List<string> raw)
    {
        switch (random.Next(4))
        {
            case 0:
                list.Insert(random.Next(list.Count + 1), null);
                break;
            case 1:
                list.Insert(random.Next(list.Count + 1), Raw(raw, Token(avoidLongWaits: true)));
                break;
            case 2 when list.Count > 0:
                // Many copies of one item; rarely past the API's count limits.
                var item = list[random.Next(list.Count)];
                var copies = random.Next(10) == 0 ? 10_001 : random.Next(2, 50);
                for (var i = 0; i < copies; i++)
                {
                    list.Add(item?.DeepClone());
                }
                break;
            default:
                list.Clear();
                break;
        }
    }

    /// <summary>Puts <paramref name="value"/> in the place found; a place without a parent is the root, which it replaces.</summary>
    private static JsonNode Replace(JsonNode tree, JsonNode? parent, string? name, int index, JsonNode value)
    {
        switch (parent)
        {
            case JsonObject obj:
                obj[name!] = value;
                return tree;
            case JsonArray list:
                list[index] = value;
                return tree;
            default:
                return value;
        }
    }

    private static JsonNode Raw(List<string> raw, string text)
    {
        raw.Add(text);
        return JsonValue.Create($"{Marker}{raw.Count - 1}");
    }

    private static void Collect(JsonNode node, List<(JsonNode? Parent, string? Name, int Index, JsonNode? Node)> places)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj.ToList())
                {
                    places.Add((obj, name, -1, child));
                    if (child is not null)
                    {
                        Collect(child, places);
                    }
                }
                break;
            case JsonArray list:
                for (var i = 0; i < list.Count; i++)
                {
                    places.Add((list, null, i, list[i]));
                    if (list[i] is { } child)
                    {
                        Collect(child, places);
                    }
                }
                break;
        }
    }

    private string Token(bool avoidLongWaits) => Pick(avoidLongWaits ? HostileValues.JsonWithoutLongWaits : HostileValues.Json);

    private string Deep(int depth)
    {
        var (open, close) = random.Next(3) switch
        {
            0 => ("[", "]"),
            1 => ("{\"a\":", "}"),
            _ => ("[{\"a\":", "}]"),
        };
        var text = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            text.Append(open);
        }
        text.Append(random.Next(2) == 0 ? "1" : "null");
        for (var i = 0; i < depth; i++)
        {
            text.Append(close);
        }
        return text.ToString();
    }

    /// <summary>A JSON string of up to 1 MiB; most are far shorter, so that the run stays quick.</summary>
    private string HugeString()
    {
        var length = random.Next(20) switch
        {
            0 => 1024 * 1024,
            < 5 => random.Next(4096, 64 * 1024),
            _ => random.Next(256, 4096),
        };
        var unit = random.Next(4) switch
        {
            0 => "\\ud800",
            1 => "漢",
            2 => "\\u0000",
            _ => "x",
        };
        var text = new StringBuilder(length + 2).Append('"');
        while (text.Length < length)
        {
            text.Append(unit);
        }
        return text.Append('"').ToString();
    }

    private byte[] MutateText(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        switch (random.Next(7))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)];
            case 1:
                var at = random.Next(bytes.Length + 1);
                return [.. bytes[..at], .. RandomBytes(random.Next(1, 8)), .. bytes[at..]];
            case 2:
                var from = random.Next(bytes.Length);
                return [.. bytes[..from], .. bytes[Math.Min(bytes.Length, from + random.Next(1, 16))..]];
            case 3:
                return [0xEF, 0xBB, 0xBF, .. bytes];
            case 4:
                return Encoding.Unicode.GetBytes(json);
            case 5:
                return Encoding.UTF8.GetBytes(json + Pick(["}", ",", " x", "\u0000", "{}", "\n\n"]));
            default:
                var flip = (byte[])bytes.Clone();
                flip[random.Next(flip.Length)] = (byte)random.Next(256);
                return flip;
        }
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private string Pick(string[] values) => values[random.Next(values.Length)];
}

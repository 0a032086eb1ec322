// The seed's persistent storage: a function writes a file into a volume mounted at /data and commits it; another
// container reloads and reads it; local code lists and reads the volume through the file API.
// Run it with: ferry run examples/volumes.cs
using Ferry;

var volume = Volume.FromName("my-data", createIfMissing: true);
var mount = new Dictionary<string, Volume> { ["/data"] = volume };

var app = new App("volumes-example");
var saveFile = app.Function(async (string content) =>
{
    // volume.Path is /data on the runc runtime; on the process runtime, which cannot mount, the worker's copy.
    await File.WriteAllTextAsync(Path.Combine(volume.Path, "output.txt"), content);
    await volume.CommitAsync();
    return content.Length;
}, new FunctionOptions { Volumes = mount }, name: "save_file");
var readFile = app.Function(async (string name) =>
{
    // This container's copy is a snapshot from its start: reload to see commits made since.
    await volume.ReloadAsync();
    var file = Path.Combine(volume.Path, name);
    return File.Exists(file) ? await File.ReadAllTextAsync(file) : "<no such file>";
}, new FunctionOptions { Volumes = mount }, name: "read_file");

app.LocalEntrypoint(async () =>
{
    var written = await saveFile.RemoteAsync($"Saved at {DateTimeOffset.UtcNow:O}");
    Console.WriteLine($"save_file wrote {written} characters to /data/output.txt and committed them.");
    Console.WriteLine($"read_file in another container: {await readFile.RemoteAsync("output.txt")}");

    // The file API works from anywhere, with no container.
    await volume.WriteFileAsync("/notes/readme.txt", "written from local code"u8.ToArray());
    Console.WriteLine($"read_file sees the local write: {await readFile.RemoteAsync("notes/readme.txt")}");
    foreach (var entry in await volume.ListAsync("/", recursive: true))
    {
        Console.WriteLine($"  {entry.Path} ({entry.Size} bytes)");
    }
});

return await app.RunAsync(args);

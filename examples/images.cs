// Container images defined in code: Debian packages, shell commands, environment, a build-time function that
// bakes files into the image, and a local file mounted when each container starts.
// Run it with: ferry run examples/images.cs   (a second run reuses every cached layer)
using System.Diagnostics;
using Ferry;

var image = Image.DebianSlim()
    .AptInstall("jq")
    .RunCommands("mkdir -p /opt/tools", "echo '{\"tool\": \"jq\"}' > /opt/tools/info.json")
    .Env("GREETING", "hello from the image")
    .RunFunction(DownloadModel)
    .AddLocalFile("examples/data/greeting.txt", "/data/greeting.txt");

var app = new App("images", image);

var describe = app.Function(Describe);

app.LocalEntrypoint(async () =>
{
    Console.WriteLine(await describe.RemoteAsync());
});

return await app.RunAsync(args);

// Runs once, at build time, inside the build container: what it writes to /models is kept in the image.
static void DownloadModel()
{
    Directory.CreateDirectory("/models");
    File.WriteAllText("/models/weights.txt", "pretend these are model weights");
}

static string Describe()
{
    var jq = Process.Start(new ProcessStartInfo("jq", ["-r", ".tool", "/opt/tools/info.json"]) { RedirectStandardOutput = true })!;
    var tool = jq.StandardOutput.ReadToEnd().Trim();
    jq.WaitForExit();
    return string.Join(Environment.NewLine,
        $"jq says the tool is: {tool}",
        $"GREETING={Environment.GetEnvironmentVariable("GREETING")}",
        $"/models/weights.txt: {File.ReadAllText("/models/weights.txt")}",
        $"/data/greeting.txt: {File.ReadAllText("/data/greeting.txt").Trim()}");
}

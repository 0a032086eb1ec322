using static Ferry.Cli.CommandErrors;
using System.CommandLine;
using Ferry;
using Ferry.Cli;
using Ferry.Cli.Commands;

Timings.MainEntered();

var server = new Option<string?>("--server") { Description = "The control plane's URL. Default: $FERRY_SERVER_URL, or a local server started on demand.", Recursive = true };
var verbose = new Option<bool>("--verbose") { Description = "Log the server's and worker's own activity.", Recursive = true };

var target = new Argument<string>("target") { Description = "FILE.cs, FILE.csproj or a project directory, optionally followed by ::ENTRYPOINT or ::FUNCTION." };
var programArgs = new Argument<string[]>("args") { Description = "Arguments for the entrypoint or function, after --.", Arity = ArgumentArity.ZeroOrMore };
var detach = new Option<bool>("--detach", "-d") { Description = "Keep the app running after this command exits." };
var noProgress = new Option<bool>("--no-progress") { Description = "Draw no progress bars for maps (also: FERRY_PROGRESS=0). They are drawn only on a terminal." };
var run = new Command("run", "Build an app, run its local entrypoint, and run its functions in containers.") { target, programArgs, detach, noProgress };
run.SetAction((r, ct) => GuardAsync(() => RunCommand.RunAsync(r.GetValue(target)!, r.GetValue(programArgs) ?? [], r.GetValue(detach), r.GetValue(noProgress), r.GetValue(server), ct)));

var json = new Option<bool>("--json") { Description = "Print JSON for scripts: a listing as one document, logs as one object per line." };
var dataDir = new Option<string>("--data-dir") { Description = "Where the database, blobs and builds live.", DefaultValueFactory = _ => FerryHome.DataDir };
var bind = new Option<string>("--bind") { Description = "The address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "The port to listen on; 0 picks a free one.", DefaultValueFactory = _ => 7325 };
var store = new Option<string?>("--store")
{
    Description = "Keep the server's state in PostgreSQL: a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL or an Npgsql connection string. Default: $FERRY_STORE, or SQLite in --data-dir.",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FERRY_STORE") is { Length: > 0 } fromEnvironment ? fromEnvironment : null,
};
var gatewayPort = new Option<int?>("--gateway-port") { Description = "The web gateway's port; 0 picks a free one. Default: --port plus one (7326)." };
var noWorker = new Option<bool>("--no-worker") { Description = "Run only the control plane; workers join with `ferry worker`." };
var stateFile = new Option<string?>("--state-file") { Hidden = true };
var tokenFile = new Option<string>("--token-file") { Description = "Where the server keeps a client token for this machine's CLI, readable by its owner only.", DefaultValueFactory = _ => FerryHome.TokenFile };
var tlsCert = new Option<string?>("--tls-cert") { Description = "Serve HTTPS with this certificate (PEM with --tls-key, or PKCS#12). Off loopback without it, a self-signed one is made." };
var retention = new Option<string>("--retention") { Description = "How long finished calls, logs and stopped apps are kept, such as 7d, 12h or 30m.", DefaultValueFactory = _ => "7d" };
var tlsKey = new Option<string?>("--tls-key") { Description = "The PEM private key of --tls-cert." };
var runtime = new Option<string>("--runtime")
{
    Description = "Container runtime: auto, runc or process. Default: $FERRY_RUNTIME, or auto.",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FERRY_RUNTIME") is { Length: > 0 } fromEnvironment ? fromEnvironment : "auto",
};
var aptMirror = new Option<string?>("--apt-mirror") { Description = "The Debian mirror images are built from. Default: the one the host's apt sources name." };
var maxContainers = new Option<int>("--max-containers") { Description = "The most containers this worker runs at once.", DefaultValueFactory = _ => 16 };
var gpus = new Option<string?>("--gpus") { Description = "A GPU inventory such as H100:2,A10G, instead of asking nvidia-smi." };
var cpu = new Option<double?>("--cpu") { Description = "CPU cores offered to containers. Default: all." };
var memory = new Option<long?>("--memory") { Description = "Memory in MiB offered to containers. Default: all." };
var placeholders = new Option<int?>("--placeholders")
{
    Description = "The most pre-started placeholder containers kept for fast cold starts (about 30-40 MiB each while idle; "
        + "their number follows the recent rate of cold starts). 0 turns them off. Default: $FERRY_PLACEHOLDERS, or 4.",
};

var leaseDuration = new Option<string>("--lease-duration")
{
    Description = "With a PostgreSQL --store, several servers share the database: how long one's lease of an app lasts unrenewed, which bounds how long an app waits for another server after its owner dies.",
    DefaultValueFactory = _ => "10s",
};
var advertiseUrl = new Option<string?>("--advertise-url") { Description = "With a PostgreSQL --store, the URL other servers forward requests to. Default: the address this server listens on." };

ServeCommands.WorkerSettings Worker(ParseResult r) => new(r.GetValue(runtime)!, r.GetValue(maxContainers), r.GetValue(gpus), r.GetValue(cpu), r.GetValue(memory), r.GetValue(aptMirror), r.GetValue(placeholders));

var serve = new Command("server", "Run the control plane, with a local worker unless --no-worker.") { dataDir, store, bind, port, gatewayPort, noWorker, stateFile, tokenFile, tlsCert, tlsKey, retention, leaseDuration, advertiseUrl, runtime, aptMirror, maxContainers, gpus, cpu, memory, placeholders };
serve.SetAction((r, ct) => GuardAsync(() => ServeCommands.ServerAsync(
    r.GetValue(dataDir)!, r.GetValue(store), r.GetValue(bind)!, r.GetValue(port), !r.GetValue(noWorker), Worker(r), r.GetValue(stateFile), r.GetValue(tokenFile)!,
    new ServeCommands.TlsSettings(r.GetValue(tlsCert), r.GetValue(tlsKey)), ServeCommands.ParseDuration(r.GetValue(retention)!, "--retention"), r.GetValue(verbose), ct,
    ServeCommands.ParseReplicas(r.GetValue(leaseDuration)!, r.GetValue(advertiseUrl)), r.GetValue(gatewayPort))));

var serverStatus = new Command("status", "Show the server this CLI talks to: address, health, version, and the local server's process and files.") { json };
serverStatus.SetAction((r, ct) => GuardAsync(() => ServerStatusCommands.StatusAsync(r.GetValue(json), r.GetValue(server), ct)));
var serverStop = new Command("stop", "Stop the local server, and with it its apps and containers.");
serverStop.SetAction((r, ct) => GuardAsync(() => ServerStatusCommands.StopAsync(r.GetValue(server), ct)));
serve.Subcommands.Add(serverStatus);
serve.Subcommands.Add(serverStop);

var workerServer = new Option<string[]>("--server-url") { Description = "The control plane to serve; repeat it for each server replica that shares one PostgreSQL database.", Required = true };
var workerData = new Option<string>("--data-dir") { Description = "Where builds are cached.", DefaultValueFactory = _ => Path.Combine(FerryHome.Root, "worker") };
var workerToken = new Option<string?>("--token") { Description = "The worker's join token (`ferry token create --kind worker NAME`). Default: $FERRY_TOKEN." };
var worker = new Command("worker", "Run a worker that serves a control plane.") { workerServer, workerToken, workerData, runtime, aptMirror, maxContainers, gpus, cpu, memory, placeholders };
worker.SetAction((r, ct) => GuardAsync(() =>
{
    var urls = r.GetValue(workerServer)!.Select(url => Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        ? uri
        : throw new CliException($"'{url}' is not a server URL; write it like http://10.0.5.1:7325.")).ToList();
    return ServeCommands.WorkerAsync(urls, r.GetValue(workerToken), r.GetValue(workerData)!, Worker(r), r.GetValue(verbose), ct);
}));

var gatewayServer = new Option<string>("--server-url") { Description = "The control plane whose web endpoints this gateway serves.", Required = true };
var gatewayToken = new Option<string?>("--token") { Description = "The gateway's token (`ferry token create --kind gateway NAME`). Default: $FERRY_TOKEN." };
var gatewayBind = new Option<string>("--bind", "--host") { Description = "The address to listen on.", DefaultValueFactory = _ => "127.0.0.1" };
var gatewayListenPort = new Option<int>("--port") { Description = "The port to listen on; 0 picks a free one.", DefaultValueFactory = _ => 7326 };
var gatewayColdStart = new Option<string>("--cold-start-timeout") { Description = "How long a request waits for a container with a free slot before a 503, such as 120s or 2m.", DefaultValueFactory = _ => "120s" };
var gatewayCommand = new Command("gateway", "Run a web gateway of its own, serving a control plane's web endpoints; a cluster may run several.") { gatewayServer, gatewayToken, gatewayBind, gatewayListenPort, gatewayColdStart, tlsCert, tlsKey };
gatewayCommand.SetAction((r, ct) => GuardAsync(() =>
{
    var url = r.GetValue(gatewayServer)!;
    var serverUrl = Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        ? uri
        : throw new CliException($"'{url}' is not a server URL; write it like http://10.0.5.1:7325.");
    return GatewayCommand.RunAsync(new GatewayCommand.Settings(serverUrl, r.GetValue(gatewayToken), r.GetValue(gatewayBind)!, r.GetValue(gatewayListenPort),
        ServeCommands.ParseDuration(r.GetValue(gatewayColdStart)!, "--cold-start-timeout"), r.GetValue(tlsCert), r.GetValue(tlsKey), r.GetValue(verbose)), ct);
}));

var appName = new Argument<string>("app") { Description = "An app id, or an app name (the newest app of that name)." };
var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until the app stops." };
var timestamps = new Option<bool>("--timestamps", "-t") { Description = "Start each log line with the time it was logged." };
LogFormat LogFormatOf(ParseResult r) => new(r.GetValue(json), r.GetValue(timestamps));
var appList = new Command("list", "List apps.") { json };
appList.SetAction((r, ct) => GuardAsync(() => InspectCommands.AppListAsync(r.GetValue(json), r.GetValue(server), ct)));
var appLogs = new Command("logs", "Print an app's logs.") { appName, follow, json, timestamps };
appLogs.SetAction((r, ct) => GuardAsync(() => InspectCommands.AppLogsAsync(r.GetValue(appName)!, r.GetValue(follow), LogFormatOf(r), r.GetValue(server), ct)));
var appStop = new Command("stop", "Stop an app and its containers.") { appName };
appStop.SetAction((r, ct) => GuardAsync(() => InspectCommands.AppStopAsync(r.GetValue(appName)!, r.GetValue(server), ct)));
var appHistory = new Command("history", "List a deployed app's versions: number, time, tag, build and where from.") { appName, json };
appHistory.SetAction((r, ct) => GuardAsync(() => AppHistoryCommand.RunAsync(r.GetValue(appName)!, r.GetValue(json), r.GetValue(server), ct)));
var rollbackVersion = new Argument<int?>("version") { Description = "The version to make current again. Default: the one before the current one.", Arity = ArgumentArity.ZeroOrOne };
var appRollback = new Command("rollback", "Make an earlier version of a deployed app current again, draining the current one.") { appName, rollbackVersion };
appRollback.SetAction((r, ct) => GuardAsync(() => AppRollbackCommand.RunAsync(r.GetValue(appName)!, r.GetValue(rollbackVersion), r.GetValue(server), ct)));
var app = new Command("app", "Manage apps.") { appList, appLogs, appStop, appHistory, appRollback };

var deployTarget = new Argument<string>("target") { Description = "FILE.cs, FILE.csproj or a project directory." };
var deployName = new Option<string?>("--name") { Description = "The deployed app's name. Default: the name the program gives its App." };
var deployTag = new Option<string?>("--tag") { Description = "A label for this version, such as a commit hash." };
var deploy = new Command("deploy", "Deploy an app: it runs with no client, as the next version, until `ferry app stop`.") { deployTarget, deployName, deployTag };
deploy.SetAction((r, ct) => GuardAsync(() => DeployCommand.RunAsync(r.GetValue(deployTarget)!, r.GetValue(deployName), r.GetValue(deployTag), r.GetValue(server), ct)));

var serveTarget = new Argument<string>("target") { Description = "FILE.cs, FILE.csproj or a project directory to watch." };
var serveApp = new Command("serve", "Run an app while this command runs, and swap in a new version on every change of its source.") { serveTarget };
serveApp.SetAction((r, ct) => GuardAsync(() => ServeAppCommand.RunAsync(r.GetValue(serveTarget)!, r.GetValue(server), ct)));

var scheduleList = new Command("list", "List the deployed apps' schedules with their last and next runs.") { json };
scheduleList.SetAction((r, ct) => GuardAsync(() => ScheduleListCommand.RunAsync(r.GetValue(json), r.GetValue(server), ct)));
var schedule = new Command("schedule", "Inspect schedules.") { scheduleList };

var containerId = new Argument<string>("container") { Description = "A container id." };
var appFilter = new Option<string?>("--app") { Description = "Only this app's containers." };
var containerList = new Command("list", "List running containers.") { appFilter, json };
containerList.SetAction((r, ct) => GuardAsync(() => InspectCommands.ContainerListAsync(r.GetValue(appFilter), r.GetValue(json), r.GetValue(server), ct)));
var containerStop = new Command("stop", "Stop a container.") { containerId };
containerStop.SetAction((r, ct) => GuardAsync(() => InspectCommands.ContainerStopAsync(r.GetValue(containerId)!, r.GetValue(server), ct)));
var containerLogs = new Command("logs", "Print a container's logs, including those of containers that have ended.") { containerId, follow, json, timestamps };
containerLogs.SetAction((r, ct) => GuardAsync(() => InspectCommands.ContainerLogsAsync(r.GetValue(containerId)!, r.GetValue(follow), LogFormatOf(r), r.GetValue(server), ct)));
var execCommand = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.ZeroOrMore };
var containerExec = new Command("exec", "Run a command inside a running container, with this terminal's input and output.") { containerId, execCommand };
containerExec.SetAction((r, ct) => GuardAsync(() => SessionCommands.ExecAsync(r.GetValue(containerId)!, r.GetValue(execCommand) ?? [], r.GetValue(server), ct)));
var container = new Command("container", "Inspect, enter and stop containers.") { containerList, containerLogs, containerExec, containerStop };

var shellTarget = new Argument<string>("target") { Description = "FILE.cs::FUNCTION (or a project, ::FUNCTION): whose image, mounts and environment to use." };
var shellCmd = new Option<string?>("--cmd") { Description = "Run this one command with /bin/sh -c instead of an interactive shell." };
var shell = new Command("shell", "Open a shell (or run one command) in a new container with a function's image and mounts.") { shellTarget, shellCmd };
shell.SetAction((r, ct) => GuardAsync(() => SessionCommands.ShellAsync(r.GetValue(shellTarget)!, r.GetValue(shellCmd), r.GetValue(server), ct)));

var imageList = new Command("list", "List the images workers have built, newest use first.") { json };
imageList.SetAction((r, ct) => GuardAsync(() => InspectCommands.ImageListAsync(r.GetValue(json), r.GetValue(server), ct)));
var image = new Command("image", "Inspect built images.") { imageList };

var tokenName = new Argument<string>("name") { Description = "What the token is for, such as ci or gpu-worker-1." };
var tokenKind = new Option<string>("--kind") { Description = "client (people and programs), worker (a worker's join token), proxy (a caller of endpoints that require auth) or gateway (a `ferry gateway`).", DefaultValueFactory = _ => Ferry.Protocol.TokenKinds.Client };
tokenKind.AcceptOnlyFromAmong(Ferry.Protocol.TokenKinds.Client, Ferry.Protocol.TokenKinds.Worker, Ferry.Protocol.TokenKinds.Proxy, Ferry.Protocol.TokenKinds.Gateway);
var tokenCreate = new Command("create", "Create a token and print its secret, once.") { tokenName, tokenKind };
tokenCreate.SetAction((r, ct) => GuardAsync(() => TokenCommands.CreateAsync(r.GetValue(tokenName)!, r.GetValue(tokenKind)!, r.GetValue(server), ct)));
var tokenList = new Command("list", "List tokens (never their secrets).") { json };
tokenList.SetAction((r, ct) => GuardAsync(() => TokenCommands.ListAsync(r.GetValue(json), r.GetValue(server), ct)));
var tokenId = new Argument<string>("token-id") { Description = "The id of the token, as `ferry token list` shows it." };
var tokenRevoke = new Command("revoke", "Revoke a token at once.") { tokenId };
tokenRevoke.SetAction((r, ct) => GuardAsync(() => TokenCommands.RevokeAsync(r.GetValue(tokenId)!, r.GetValue(server), ct)));
var token = new Command("token", "Manage the tokens that clients and workers present.") { tokenCreate, tokenList, tokenRevoke };

var root = new RootCommand("Ferry runs C# functions in containers that scale with the load.") { run, deploy, serveApp, shell, serve, worker, gatewayCommand, app, container, image, token, schedule };
root.Subcommands.Add(new Command("secret", "Manage secrets: encrypted keys and values that functions get as environment variables.")
{
    new Ferry.Cli.Commands.Objects.SecretCreateCommand(server), new Ferry.Cli.Commands.Objects.SecretListCommand(server), new Ferry.Cli.Commands.Objects.SecretDeleteCommand(server),
});
root.Subcommands.Add(new Command("dict", "Inspect and manage named dicts.")
{
    new Ferry.Cli.Commands.Objects.DictListCommand(server), new Ferry.Cli.Commands.Objects.DictGetCommand(server), new Ferry.Cli.Commands.Objects.DictItemsCommand(server),
    new Ferry.Cli.Commands.Objects.DictClearCommand(server), new Ferry.Cli.Commands.Objects.DictDeleteCommand(server),
});
root.Subcommands.Add(new Command("queue", "Inspect and manage named queues.")
{
    new Ferry.Cli.Commands.Objects.QueueListCommand(server), new Ferry.Cli.Commands.Objects.QueuePeekCommand(server), new Ferry.Cli.Commands.Objects.QueueLenCommand(server),
    new Ferry.Cli.Commands.Objects.QueueClearCommand(server), new Ferry.Cli.Commands.Objects.QueueDeleteCommand(server),
});
root.Subcommands.Add(new Command("volume", "Manage volumes: named, versioned file trees that functions mount.")
{
    new Ferry.Cli.Commands.Objects.VolumeCreateCommand(server), new Ferry.Cli.Commands.Objects.VolumeListCommand(server), new Ferry.Cli.Commands.Objects.VolumeLsCommand(server),
    new Ferry.Cli.Commands.Objects.VolumePutCommand(server), new Ferry.Cli.Commands.Objects.VolumeGetCommand(server), new Ferry.Cli.Commands.Objects.VolumeRmCommand(server),
    new Ferry.Cli.Commands.Objects.VolumeDeleteCommand(server),
});
root.Options.Add(server);
root.Options.Add(verbose);
// Help's Windows-style aliases are volume and container paths here: `ferry volume put v file /h` must upload to /h.
foreach (var help in root.Options.OfType<System.CommandLine.Help.HelpOption>())
{
    help.Aliases.Remove("/h");
    help.Aliases.Remove("/?");
}
foreach (var portOption in new Option[] { port, gatewayPort, gatewayListenPort })
{
    portOption.Validators.Add(PortRange);
}
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);

// A port out of range would otherwise reach Kestrel, whose refusal is an exception with a stack trace.
static void PortRange(System.CommandLine.Parsing.OptionResult result)
{
    if (result.Tokens is [var token] && int.TryParse(token.Value, System.Globalization.CultureInfo.InvariantCulture, out var value) && value is < 0 or > 65535)
    {
        result.AddError($"{result.Option.Name} takes a port from 0 to 65535; {value} is not one.");
    }
}

using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Tests;

public sealed class ImageDefinitionTests
{
    [Fact]
    public void Steps_keep_their_order_and_arguments()
    {
        var spec = Image.DebianSlim()
            .AptInstall("jq", "curl=7.88.1-10+deb12u12")
            .Env("B", "2")
            .Env(new Dictionary<string, string> { ["Z"] = "last", ["A"] = "first" })
            .RunCommands("echo hi")
            .Workdir("/srv/")
            .ToSpec();

        spec.Steps.Select(s => (s.Kind, string.Join(",", s.Args))).Should().Equal(
            (ImageStepKinds.AptInstall, "jq,curl=7.88.1-10+deb12u12"),
            (ImageStepKinds.Env, "B=2"),
            (ImageStepKinds.Env, "A=first,Z=last"),
            (ImageStepKinds.RunCommands, "echo hi"),
            (ImageStepKinds.Workdir, "/srv"));
    }

    [Theory]
    [InlineData("jq; rm -rf /")]
    [InlineData("Upper")]
    [InlineData("")]
    public void A_package_name_apt_would_not_accept_is_rejected_when_the_image_is_defined(string package)
    {
        var act = () => Image.DebianSlim().AptInstall(package);

        act.Should().Throw<ArgumentException>().WithMessage($"*'{package}' is not a Debian package name*");
    }

    [Fact]
    public void Container_paths_must_be_absolute_and_stay_put()
    {
        var relative = () => Image.DebianSlim().Workdir("srv");
        var escaping = () => Image.DebianSlim().AddLocalFile("x", "/data/../etc/passwd");

        relative.Should().Throw<ArgumentException>().WithMessage("*not an absolute path*");
        escaping.Should().Throw<ArgumentException>().WithMessage("*not an absolute path*");
    }

    [Fact]
    public void A_build_step_after_a_mounted_file_is_rejected_with_the_way_out()
    {
        var act = () => Image.DebianSlim().AddLocalDir("data", "/data").RunCommands("ls /data");

        act.Should().Throw<InvalidOperationException>().WithMessage("*cannot follow the mounted 'data'*copy: true*");
    }

    [Fact]
    public void Local_files_travel_by_content_hash_and_a_missing_one_is_named()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-image-test").FullName;
        File.WriteAllText(Path.Combine(dir, "a.txt"), "alpha");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "sub", "b.txt"), "beta");
        File.WriteAllText(Path.Combine(dir, "skip.log"), "noise");

        var step = Image.DebianSlim().AddLocalDir(dir, "/data", copy: true, ignore: p => p.EndsWith(".log", StringComparison.Ordinal)).ToSpec().Steps.Single();
        var missing = () => Image.DebianSlim().AddLocalFile(Path.Combine(dir, "nope.txt"), "/nope.txt").ToSpec();

        step.Args.Should().Equal("/data", "dir", "copy");
        step.Files!.Select(f => f.Path).Should().Equal("a.txt", "sub/b.txt");
        step.Files![0].Hash.Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("alpha"u8)));
        Image.FindLocalSource(step.Files[1].Hash).Should().Be(Path.Combine(dir, "sub", "b.txt"));
        missing.Should().Throw<InvalidRequestException>().WithMessage("*nope.txt*does not exist*");
    }

    [Fact]
    public void A_build_function_is_registered_under_a_stable_name_and_hashed_by_its_code()
    {
        var first = Image.DebianSlim().RunFunction(BuildStepA).ToSpec().Steps.Single();
        var again = Image.DebianSlim().RunFunction(BuildStepA).ToSpec().Steps.Single();
        var other = Image.DebianSlim().RunFunction(BuildStepB).ToSpec().Steps.Single();

        first.Should().BeEquivalentTo(again);
        first.Args[2].Should().Be("ImageDefinitionTests.BuildStepA");
        other.Args[1].Should().NotBe(first.Args[1]);
        Image.FindBuildFunction(first.Args[0])!.Value.DisplayName.Should().Be("ImageDefinitionTests.BuildStepA");
    }

    [Fact]
    public void Force_build_is_carried_to_the_step()
    {
        Image.DebianSlim().AptInstall(["jq"], forceBuild: true).ToSpec().Steps.Single().ForceBuild.Should().BeTrue();
    }

    private static void BuildStepA() => File.WriteAllText("/tmp/a", "a");

    private static void BuildStepB() => File.WriteAllText("/tmp/b", "b");
}

public sealed class SnapshotSupportTests
{
    [Fact]
    public void Without_criu_the_reason_says_how_to_get_it()
    {
        SnapshotSupport.FromCheck(null).Should().Be(new SnapshotSupport(false, "CRIU is not installed (apt-get install criu)"));
    }

    [Fact]
    public void A_failing_criu_check_is_reported_by_its_first_error_without_the_source_location()
    {
        const string output = """
            Error (criu/util.c:642): exited, status=1
            Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
            Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable
            Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
            """;

        var support = SnapshotSupport.FromCheck((1, output));

        support.Available.Should().BeFalse();
        support.Reason.Should().Be("criu check fails on this host (vdso: Unexpected rt vDSO area bounds)");
        support.Warning.Should().StartWith("Memory snapshots are not available on this worker: criu check fails on this host");
    }

    [Fact]
    public void A_passing_check_still_cold_starts_and_says_why()
    {
        var support = SnapshotSupport.FromCheck((0, "Looks good."));

        support.Available.Should().BeFalse();
        support.Reason.Should().Contain("does not restore containers from checkpoints yet");
    }

    [Fact]
    public async Task The_process_runtime_never_snapshots()
    {
        (await SnapshotSupport.ProbeAsync("process", CancellationToken.None)).Reason.Should().Be("the process runtime has no containers to checkpoint");
    }

    [Fact]
    public void The_option_reaches_the_functions_settings()
    {
        var app = new App("snap-test");
        var function = app.Function(() => 1, new FunctionOptions { EnableMemorySnapshot = true }, name: "f");

        app.ToDefinition().Functions.Single().Settings.EnableMemorySnapshot.Should().BeTrue();
    }
}

public sealed class DefinitionErrorTests
{
    [Fact]
    public void A_definition_mistake_is_reported_by_its_message_and_the_users_line()
    {
        Exception? error = null;
        try
        {
            Image.DebianSlim().AptInstall("Not A Package");
        }
        catch (ArgumentException e)
        {
            error = e;
        }

        var report = Ferry.Hosting.DefinitionErrors.Describe(error!);

        report.Should().StartWith("Error: 'Not A Package' is not a Debian package name")
            .And.MatchRegex(@"\(at .*ImageTests\.cs:\d+\)$");
    }

    [Fact]
    public void Exceptions_that_did_not_come_from_the_sdk_are_left_to_the_runtime()
    {
        Ferry.Hosting.DefinitionErrors.Describe(new InvalidOperationException("user bug")).Should().BeNull();
    }
}

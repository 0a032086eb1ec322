using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;
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

public sealed class LayerIdTests
{
    private static readonly ImageStep Apt = new(ImageStepKinds.AptInstall, ["jq"]);
    private static readonly ImageStep Run = new(ImageStepKinds.RunCommands, ["echo hi"]);

    // Pinned: a change to how ids are derived rebuilds every layer on every worker, so it must show up here.
    [Theory]
    [InlineData("base-bookworm-minbase-ssl", ImageStepKinds.AptInstall, "jq", "3d4f03086ea57941c9eed59a532c8387")]
    [InlineData("3d4f03086ea57941c9eed59a532c8387", ImageStepKinds.RunCommands, "echo hi", "dc3c7ea5487daad4eff7ddeb34f034c8")]
    [InlineData("base-bookworm-minbase-ssl", ImageStepKinds.Env, "A=1", "dcd1faf2463cf11246babc6c59b73b5e")]
    public void LayerId_ParentAndStep_IsPinned(string parent, string kind, string arg, string expected)
    {
        LayerIds.Of(parent, new ImageStep(kind, [arg])).Should().Be(expected);
    }

    [Fact]
    public void LayerId_CopiedFiles_IsPinned()
    {
        var step = new ImageStep(ImageStepKinds.AddLocal, ["/data", "dir", "copy"], Files: [new BuildFile("a.txt", "aaa", 5)]);

        LayerIds.Of("base-bookworm-minbase-ssl", step).Should().Be("f6a6444a12f1ff8a2d6676dae0be6fb9");
    }

    [Fact]
    public void The_same_parent_and_step_give_the_same_id()
    {
        LayerIds.Of("base", Apt).Should().Be(LayerIds.Of("base", new ImageStep(ImageStepKinds.AptInstall, ["jq"])));
    }

    [Fact]
    public void A_changed_step_changes_its_id_and_every_id_after_it()
    {
        var changed = new ImageStep(ImageStepKinds.AptInstall, ["jq", "curl"]);

        LayerIds.Of("base", changed).Should().NotBe(LayerIds.Of("base", Apt));
        LayerIds.Of(LayerIds.Of("base", changed), Run).Should().NotBe(LayerIds.Of(LayerIds.Of("base", Apt), Run));
    }

    [Fact]
    public void Arguments_cannot_run_together_into_the_same_id()
    {
        LayerIds.Of("base", new ImageStep(ImageStepKinds.RunCommands, ["a", "b"]))
            .Should().NotBe(LayerIds.Of("base", new ImageStep(ImageStepKinds.RunCommands, ["a\nb"])));
    }

    [Fact]
    public void The_contents_of_added_files_are_part_of_the_id()
    {
        ImageStep Copy(string hash) => new(ImageStepKinds.AddLocal, ["/data", "dir", "copy"], Files: [new BuildFile("a.txt", hash, 5)]);

        LayerIds.Of("base", Copy("aaa")).Should().NotBe(LayerIds.Of("base", Copy("bbb")));
    }

    [Fact]
    public void Apt_steps_refresh_package_lists_only_when_a_download_fails_and_quote_their_packages()
    {
        var script = BuildContainer.Script(new ImageStep(ImageStepKinds.AptInstall, ["jq", "libc6=2.36"]));

        script.Should().Contain("apt-get install -y -q --no-install-recommends 'jq' 'libc6=2.36'")
            .And.Contain("grep -q -e 'Failed to fetch' -e 'Unable to fetch' /tmp/apt.log || exit 100");
    }

    [Fact]
    public void Each_command_is_echoed_before_it_runs_and_quotes_survive()
    {
        var script = BuildContainer.Script(new ImageStep(ImageStepKinds.RunCommands, ["echo 'it''s'"]));

        script.Should().Be("set -e\nprintf '%s\\n' '$ echo '\\''it'\\'''\\''s'\\'''\necho 'it''s'\n");
    }
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

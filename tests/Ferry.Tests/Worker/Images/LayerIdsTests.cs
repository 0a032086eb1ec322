using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;

namespace Ferry.Tests.Images;

public sealed class LayerIdsTests
{
    private static readonly ImageStep Apt = new(ImageStepKinds.AptInstall, ["jq"]);
    private static readonly ImageStep Run = new(ImageStepKinds.RunCommands, ["echo hi"]);

    // Pinned: a change to how ids are derived rebuilds every layer on every worker, so it must show up here.
    [Theory]
    [InlineData("base-bookworm-minbase-ssl", ImageStepKinds.AptInstall, "jq", "3d4f03086ea57941c9eed59a532c8387")]
    [InlineData("3d4f03086ea57941c9eed59a532c8387", ImageStepKinds.RunCommands, "echo hi", "dc3c7ea5487daad4eff7ddeb34f034c8")]
    [InlineData("base-bookworm-minbase-ssl", ImageStepKinds.Env, "A=1", "dcd1faf2463cf11246babc6c59b73b5e")]
    public void Of_ParentAndStep_IsPinned(string parent, string kind, string arg, string expected)
    {
        LayerIds.Of(parent, new ImageStep(kind, [arg])).Should().Be(expected);
    }

    [Fact]
    public void Of_CopiedFiles_IsPinned()
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
    public void OfMount_SameFilesAtAnotherPath_IsPinnedAndShared()
    {
        ImageStep Mount(string target) => new(ImageStepKinds.AddLocal, [target, "dir", "mount"], Files: [new BuildFile("a.txt", "aaa", 5)]);

        LayerIds.OfMount(Mount("/data")).Should().Be("78b30966d4ef998d28b391de0ba4a3d6");
        LayerIds.OfMount(Mount("/elsewhere")).Should().Be(LayerIds.OfMount(Mount("/data")));
    }

    [Fact]
    public void ImageId_TopLayer_IsItsFirstTwelveCharacters()
    {
        LayerIds.ImageId("dc3c7ea5487daad4eff7ddeb34f034c8").Should().Be("im-dc3c7ea5487d");
    }
}

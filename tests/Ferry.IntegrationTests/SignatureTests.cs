using FluentAssertions;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>
/// Functions and class methods of many parameters and of no result, registered and called without type arguments
/// (Ferry.Generators writes the overloads these calls bind to), run in real containers.
/// </summary>
public sealed class SignatureTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    private readonly TestFunctions _f = fixture.Functions;

    private static string TempFile() => Path.Combine(Path.GetTempPath(), "ferry-signature-" + Guid.NewGuid().ToString("N"));

    // A 4x3 image whose pixel at (x, y) is 10 * y + x.
    private static readonly byte[] Image = [4, 3, 0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23];

    [Fact]
    public async Task A_five_argument_class_method_crops_in_a_container()
    {
        await fixture.NewAppAsync();
        var crop = _f.ImageTool.Method(t => t.Crop);

        var cropped = await crop.RemoteAsync(Image, 1, 1, 2, 2).WaitAsync(Limit);
        var whole = await crop.RemoteAsync(Image, 0, 0, 4, 3).WaitAsync(Limit);
        var outside = async () => await crop.RemoteAsync(Image, 3, 2, 2, 2).WaitAsync(Limit);

        cropped.Should().Equal(2, 2, 11, 12, 21, 22);
        whole.Should().Equal(Image);
        (await outside.Should().ThrowAsync<RemoteException>()).Which.Message.Should().Contain("A 2x2 crop at (3,2) does not fit a 4x3 image.");
        _f.App.ToDefinition().Functions.Single(f => f.Name == "ImageTool.Crop").Parameters.Select(p => $"{p.Name}:{p.Type}")
            .Should().Equal("image:Byte[]", "x:Int32", "y:Int32", "w:Int32", "h:Int32");
    }

    [Fact]
    public async Task Class_methods_that_return_nothing_or_a_value_task_run_in_a_container()
    {
        await fixture.NewAppAsync();
        var save = _f.ImageTool.Method(t => t.Save);
        var saveAsync = _f.ImageTool.Method(t => t.SaveAsync);
        var pixels = _f.ImageTool.Method(t => t.PixelsAsync);
        var first = TempFile();
        var second = TempFile();

        var saved = await save.RemoteAsync(first, Image).WaitAsync(Limit);
        await saveAsync.RemoteAsync(second, [1, 1, 7]).WaitAsync(Limit);
        var count = await pixels.RemoteAsync(Image).WaitAsync(Limit);

        saved.Should().Be(None.Value);
        (await File.ReadAllBytesAsync(first)).Should().Equal(Image);
        (await File.ReadAllBytesAsync(second)).Should().Equal(1, 1, 7);
        count.Should().Be(12);
        var definitions = _f.App.ToDefinition().Functions;
        definitions.Single(f => f.Name == "ImageTool.Save").ReturnType.Should().Be("None");
        definitions.Single(f => f.Name == "ImageTool.PixelsAsync").ReturnType.Should().Be("Int32");
    }

    [Fact]
    public async Task A_ten_argument_function_receives_every_argument_in_order()
    {
        await fixture.NewAppAsync();

        var described = await _f.Ten.RemoteAsync(1, 2L, 3.5, true, "five", '6', [0x07, 0xAB], [8, 88], new Point(9, -9, ["nine"]), null).WaitAsync(Limit);
        var mapped = await _f.Ten.StarMapAsync([(1, 2L, 0.25, false, "e", 'f', [], [], new Point(0, 0, []), "ten")]).ToListAsync().AsTask().WaitAsync(Limit);

        described.Should().Be("1|2|3.5|True|five|6|07AB|8,88|9,-9,nine|null");
        mapped.Should().Equal("1|2|0.25|False|e|f|||0,0,|ten");
        _f.App.ToDefinition().Functions.Single(f => f.Name == "DescribeTen").Parameters.Select(p => p.Name)
            .Should().Equal("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
    }

    [Fact]
    public async Task Void_Task_and_ValueTask_functions_finish_their_side_effects_before_the_call_returns()
    {
        await fixture.NewAppAsync();
        var path = TempFile();
        var repeated = TempFile();

        var written = await _f.WriteText.RemoteAsync(path, "first").WaitAsync(Limit);
        var afterWrite = await File.ReadAllTextAsync(path);
        await _f.AppendLine.RemoteAsync(path, " and second").WaitAsync(Limit);
        var afterAppend = await File.ReadAllTextAsync(path);
        await _f.WriteRepeated.RemoteAsync(repeated, "ab", 3).WaitAsync(Limit);

        written.Should().Be(default(None));
        afterWrite.Should().Be("first");
        afterAppend.Should().Be("first and second\n");
        (await File.ReadAllTextAsync(repeated)).Should().Be("ababab");
        var definitions = _f.App.ToDefinition().Functions;
        definitions.Where(f => f.Name is "WriteTextTo" or "AppendLineAsync" or "WriteRepeatedAsync").Select(f => f.ReturnType)
            .Should().Equal("None", "None", "None");
        definitions.Single(f => f.Name == "WriteRepeatedAsync").Parameters.Select(p => p.Name).Should().Equal("path", "word", "count");
    }
}

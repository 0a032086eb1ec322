// The seed's image processor: a class whose methods take several arguments (crop takes five), including methods that
// return nothing. Every registration is written without type arguments; Ferry's source generator supplies them.
// Run it with: ferry run examples/image_processor.cs
//
// Images are binary PGM (the simplest grayscale format), so the example needs no imaging library.
using System.Text;
using Ferry;

var app = new App("image-processor");

var processor = app.Cls<ImageProcessor>();
var checksum = app.Function(Checksum);

app.LocalEntrypoint(async () =>
{
    var crop = processor.Method(p => p.Crop);
    var resize = processor.Method(p => p.Resize);
    var filter = processor.Method(p => p.Filter);
    var save = processor.Method(p => p.SaveAsync);
    var log = processor.Method(p => p.Log);

    var image = Pgm.Gradient(64, 48);
    var cropped = await crop.RemoteAsync(image, 8, 4, 32, 24);           // crop(image, x, y, w, h)
    var small = await resize.RemoteAsync(cropped, 16, 12);               // resize(image, width, height)
    var inverted = await filter.RemoteAsync(small, "invert");            // filter(image, filter_type)
    await save.RemoteAsync(inverted, "/tmp/inverted.pgm");               // returns Task: the handle's result is None
    await log.RemoteAsync("processed one image");                        // returns void

    Console.WriteLine($"cropped {Pgm.Describe(cropped)}, resized {Pgm.Describe(small)}, inverted {Pgm.Describe(inverted)}");
    Console.WriteLine($"checksum {await checksum.RemoteAsync(inverted, 1)} (seed 1), {await checksum.RemoteAsync(inverted, 7)} (seed 7)");
});

return await app.RunAsync(args);

static uint Checksum(byte[] data, uint seed)
{
    var hash = seed;
    foreach (var b in data)
    {
        hash = (hash ^ b) * 16777619;
    }
    return hash;
}

public sealed class ImageProcessor
{
    [Method]
    public byte[] Resize(byte[] image, int width, int height)
    {
        var (w, h, pixels) = Pgm.Read(image);
        var resized = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                resized[y * width + x] = pixels[y * h / height * w + x * w / width];
            }
        }
        return Pgm.Write(width, height, resized);
    }

    [Method]
    public byte[] Crop(byte[] image, int x, int y, int w, int h)
    {
        var (width, height, pixels) = Pgm.Read(image);
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > width || y + h > height)
        {
            throw new ArgumentException($"A {w}x{h} crop at ({x}, {y}) does not fit a {width}x{height} image.");
        }
        var cropped = new byte[w * h];
        for (var row = 0; row < h; row++)
        {
            Array.Copy(pixels, (y + row) * width + x, cropped, row * w, w);
        }
        return Pgm.Write(w, h, cropped);
    }

    [Method]
    public byte[] Filter(byte[] image, string filterType)
    {
        var (width, height, pixels) = Pgm.Read(image);
        Func<byte, byte> filter = filterType switch
        {
            "invert" => p => (byte)(255 - p),
            "threshold" => p => p < 128 ? (byte)0 : (byte)255,
            _ => throw new ArgumentException($"Unknown filter '{filterType}'; use invert or threshold."),
        };
        return Pgm.Write(width, height, [.. pixels.Select(filter)]);
    }

    [Method]
    public async Task SaveAsync(byte[] image, string path, CancellationToken cancellationToken)
    {
        await File.WriteAllBytesAsync(path, image, cancellationToken);
        Console.WriteLine($"saved {image.Length} bytes to {path}");
    }

    [Method]
    public void Log(string message) => Console.WriteLine($"[{Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")}] {message}");
}

/// <summary>Binary PGM: a <c>P5 width height 255</c> header, then one byte per pixel, row by row.</summary>
public static class Pgm
{
    public static byte[] Gradient(int width, int height) =>
        Write(width, height, [.. Enumerable.Range(0, width * height).Select(i => (byte)((i % width) * 255 / (width - 1)))]);

    public static byte[] Write(int width, int height, byte[] pixels) =>
        [.. Encoding.ASCII.GetBytes($"P5 {width} {height} 255\n"), .. pixels];

    public static (int Width, int Height, byte[] Pixels) Read(byte[] image)
    {
        var header = Encoding.ASCII.GetString(image, 0, Math.Min(image.Length, 32));
        var fields = header.Split([' ', '\n'], 5);
        if (fields.Length < 5 || fields[0] != "P5" || !int.TryParse(fields[1], out var width) || !int.TryParse(fields[2], out var height))
        {
            throw new ArgumentException("Not a binary PGM image.");
        }
        var start = header.IndexOf('\n') + 1;
        return (width, height, image[start..]);
    }

    public static string Describe(byte[] image)
    {
        var (width, height, pixels) = Read(image);
        return $"{width}x{height} (mean {pixels.Average(p => p):0})";
    }
}

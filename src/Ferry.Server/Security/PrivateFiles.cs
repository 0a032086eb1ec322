namespace Ferry.Server.Security;

/// <summary>Files only their owner may read: tokens and private keys.</summary>
public static class PrivateFiles
{
    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> atomically, created with mode 0600 from the first byte.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var file = new FileStream(temp, options))
        {
            file.Write(content);
        }
        if (!OperatingSystem.IsWindows())
        {
            // A temp file left by an earlier crash keeps its old mode; set it again.
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Move(temp, path, overwrite: true);
    }
}

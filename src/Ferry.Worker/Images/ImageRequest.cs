namespace Ferry.Worker.Images;

/// <summary>Who asks for an image: the app (a forced build happens once per app) and its build, for build functions.</summary>
public sealed record ImageRequest(string AppId, string BuildDir, string EntryAssembly, IBlobSource Blobs);

/// <summary>Fetches a blob of the control plane's store into a local file, checking its hash.</summary>
public interface IBlobSource
{
    Task DownloadAsync(string hash, string target, CancellationToken cancellationToken);
}

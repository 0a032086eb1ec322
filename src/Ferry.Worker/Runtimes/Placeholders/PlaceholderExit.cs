using System.Diagnostics;

namespace Ferry.Worker.Runtimes.Placeholders;

/// <summary>How an idle placeholder's program is watched and ended, whatever runs it.</summary>
internal static class PlaceholderExit
{
    /// <summary>How long a placeholder has to end after its input closes before it is killed.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    /// <summary>Whether the placeholder's program has ended; one that never started, or was disposed, has.</summary>
    public static bool HasExited(Process process)
    {
        try
        {
            return process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>
    /// Closes the placeholder's input, which tells its program to end, and waits for it; past <see cref="Grace"/>,
    /// <paramref name="killAsync"/> ends it by force. A process that has already gone needs nothing.
    /// </summary>
    public static async Task RetireAsync(Process process, Func<Task> killAsync)
    {
        try
        {
            if (process.HasExited)
            {
                return;
            }
            process.StandardInput.Close();
            using var grace = new CancellationTokenSource(Grace);
            try
            {
                await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await killAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // The process was never started or is already disposed: nothing is left to end.
        }
    }
}

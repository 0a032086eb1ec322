using System.Diagnostics;
using System.Text;

namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>What came of one request: its status, and why it counts as a failure, if it does.</summary>
internal sealed record FuzzOutcome(FuzzRequest Request, int? Status, string? Failure);

/// <summary>
/// Sends fuzzed requests with bounded concurrency, each within a time limit. A failure is a status of 500 or more, no
/// answer within the limit (a hang), or a connection the server broke instead of answering.
/// </summary>
internal static class FuzzRunner
{
    private static readonly UriCreationOptions AsWritten = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public static async Task<IReadOnlyList<FuzzOutcome>> RunAsync(
        Uri server, HttpMessageHandler handler, IReadOnlyList<FuzzRequest> requests, int concurrency, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        var outcomes = new FuzzOutcome[requests.Count];
        var origin = server.GetLeftPart(UriPartial.Authority);
        await Parallel.ForEachAsync(
            Enumerable.Range(0, requests.Count),
            new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken },
            async (i, token) => outcomes[i] = await SendAsync(http, origin, requests[i], limit, token));
        return outcomes;
    }

    private static async Task<FuzzOutcome> SendAsync(HttpClient http, string origin, FuzzRequest fuzz, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(new HttpMethod(fuzz.Method), new Uri(origin + fuzz.PathAndQuery, AsWritten));
        if (fuzz.Authorization is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }
        if (fuzz.Body is { } body)
        {
            // Chunked: no Content-Length, so the server learns the size only by reading.
            request.Content = fuzz.Chunked ? new StreamContent(new MemoryStream(body)) : new ByteArrayContent(body);
            if (fuzz.ContentType is { } contentType)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status < 500)
            {
                return new FuzzOutcome(fuzz, status, null);
            }
            var answer = await response.Content.ReadAsStringAsync(timeout.Token);
            return new FuzzOutcome(fuzz, status, $"status {status}: {(answer.Length > 300 ? answer[..300] : answer)}");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new FuzzOutcome(fuzz, null, $"no answer within {limit.TotalSeconds:0} s (hang)");
        }
        catch (HttpRequestException e)
        {
            return new FuzzOutcome(fuzz, null, $"the connection failed after {watch.ElapsedMilliseconds} ms: {Describe(e)}");
        }
    }

    private static string Describe(Exception e)
    {
        var text = new StringBuilder(e.Message);
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            text.Append(" <- ").Append(inner.GetType().Name).Append(": ").Append(inner.Message);
        }
        return text.ToString();
    }
}

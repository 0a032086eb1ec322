using Ferry;
using Ferry.TestApp;

// `follow-map ID`: a second program that holds only a spawned map's id and the server in its environment
// (FERRY_SERVER_URL, FERRY_TOKEN). It prints how many results it read, in input order, and their sum.
if (args is ["follow-map", var id])
{
    using var connection = FerryConnection.FromEnvironment();
    var map = FunctionCallMap<int>.FromId(id, connection);
    long count = 0, sum = 0, next = 0;
    await foreach (var outcome in map.IterateOutcomesAsync())
    {
        if (outcome.Index != next++)
        {
            Console.Error.WriteLine($"result {outcome.Index} came where {next - 1} was due");
            return 1;
        }
        count++;
        sum += outcome.GetValueOrThrow();
    }
    Console.WriteLine($"{count} {sum}");
    return 0;
}

return await new TestFunctions().App.RunAsync(args);

using System.Text.Json;
using Ferry;
using Ferry.TestApp;

// `lookup APP NAME`: calls a deployed app by name, with the server in the environment (FERRY_SERVER_URL, FERRY_TOKEN),
// and prints one line per call. `signature APP`: looks a function up with the wrong signature and prints the error.
switch (args)
{
    case ["lookup", var app, var name]:
    {
        using var connection = FerryConnection.FromEnvironment();
        var version = await Function.FromNameAsync<Function<string>>(app, "deployed_version", connection);
        Console.WriteLine($"function: {await version.RemoteAsync()}");
        var greeter = await Cls.FromNameAsync<Greeter>(app, connection: connection);
        Console.WriteLine($"method: {await greeter.Method<string, string>(g => g.Greet).RemoteAsync(name)}");
        var square = await Function.FromNameAsync(app, "square", connection);
        Console.WriteLine($"untyped: {await square.RemoteAsync([JsonSerializer.SerializeToElement(7)])} {square.Signature}");
        return 0;
    }
    case ["signature", var app]:
    {
        using var connection = FerryConnection.FromEnvironment();
        try
        {
            await Function.FromNameAsync<Function<string, string>>(app, "square", connection);
            return 1;
        }
        catch (InvalidRequestException e)
        {
            Console.WriteLine(e.Message);
        }
        try
        {
            await Function.FromNameAsync<Function<int, int>>(app, "no_such_function", connection);
            return 1;
        }
        catch (NotFoundException e)
        {
            Console.WriteLine(e.Message);
        }
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: lookup APP NAME | signature APP");
        return 2;
}

namespace Ferry.TestApp
{
    /// <summary>The deployed class's shape, as a shared contract library would give it: the body runs in the app, not here.</summary>
    public sealed class Greeter
    {
        [Method]
        public string Greet(string name) => throw new NotSupportedException("Greeter runs in its deployed app.");
    }
}

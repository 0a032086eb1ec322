// The seed's producer and consumer: one function fills a queue, consumers in other containers drain it.
// Run it with: ferry run examples/queues.cs
using Ferry;

var app = new App("queues-example");
var produce = app.Function(Producer);
var consume = app.Function(Consumer);

app.LocalEntrypoint(async () =>
{
    var queue = Queue.FromName("task-queue", createIfMissing: true);
    await queue.ClearAsync(all: true);
    var consumers = Enumerable.Range(0, 3).Select(_ => consume.RemoteAsync()).ToList();
    Console.WriteLine($"Producer put {await produce.RemoteAsync()} tasks.");
    await queue.PutManyAsync(Enumerable.Repeat(new TaskItem(-1), consumers.Count));
    var done = await Task.WhenAll(consumers);
    Console.WriteLine($"Consumers processed {string.Join(" + ", done)} = {done.Sum()} tasks; {await queue.CountAsync()} left.");
});

return await app.RunAsync(args);

static async Task<int> Producer()
{
    var queue = Queue.FromName("task-queue");
    await queue.PutManyAsync(Enumerable.Range(0, 30).Select(i => new TaskItem(i)));
    return 30;
}

static async Task<int> Consumer()
{
    var queue = Queue.FromName("task-queue");
    var processed = 0;
    // A consumer stops at its end marker, or when no task has come for a minute.
    while ((await queue.GetManyAsync<TaskItem>(1, TimeSpan.FromSeconds(60))) is [var task] && task.Id >= 0)
    {
        processed++;
    }
    return processed;
}

record TaskItem(int Id);

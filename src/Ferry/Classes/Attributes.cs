namespace Ferry;

/// <summary>Marks a method of a class registered with <see cref="App.Cls{T}"/> as callable remotely.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class MethodAttribute : Attribute;

/// <summary>
/// Marks a method that runs once per container before it takes any input, such as loading a model. It may be
/// synchronous or return a <see cref="Task"/>. A class has at most one with <see cref="Snap"/> true and one without.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class EnterAttribute : Attribute
{
    /// <summary>
    /// Runs the hook before a memory snapshot would be taken, so restored containers skip it. Where snapshots are not
    /// available the hook simply runs first.
    /// </summary>
    public bool Snap { get; init; }
}

/// <summary>Marks a method that runs once when the container shuts down: on scale-down, app stop or SIGTERM.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ExitAttribute : Attribute;

/// <summary>
/// Marks a property as a class parameter: <see cref="string"/>, <see cref="int"/>, <see cref="bool"/> or
/// <see cref="T:byte[]"/>. A parameter declared <c>required</c> must be given; others default to their initial value.
/// Each distinct set of values runs in its own pool of containers.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ParameterAttribute : Attribute;

/// <summary>
/// Marks a <see cref="MethodAttribute">[Method]</see> that takes a list and returns a list of the same length. Callers
/// call it per item; the container gathers up to <see cref="MaxBatchSize"/> items, waiting at most
/// <see cref="WaitMs"/> milliseconds, and calls the method once. Item <c>i</c> of the result answers input <c>i</c>.
/// </summary>
/// <param name="maxBatchSize">The most items per call, 1 to 1000.</param>
/// <param name="waitMs">How long to wait for a batch to fill, 0 to 600000 milliseconds.</param>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class BatchedAttribute(int maxBatchSize, int waitMs) : Attribute
{
    /// <summary>The most items per call.</summary>
    public int MaxBatchSize { get; } = maxBatchSize;

    /// <summary>How long a container waits for a batch to fill, in milliseconds.</summary>
    public int WaitMs { get; } = waitMs;
}

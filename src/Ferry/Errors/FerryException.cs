namespace Ferry;

/// <summary>The root of every error Ferry raises.</summary>
public class FerryException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public FerryException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the exception that caused it.</summary>
    public FerryException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>A named object (app, function, call, blob) does not exist.</summary>
public sealed class NotFoundException(string message) : FerryException(message);

/// <summary>A request was malformed or out of range. The message says which field.</summary>
public sealed class InvalidRequestException(string message) : FerryException(message);

/// <summary>A payload was larger than the control plane accepts.</summary>
public sealed class RequestSizeException(string message) : FerryException(message);

/// <summary>The server refused the credential (401), or the credential does not allow the request (403).</summary>
public sealed class AuthorizationException(string message) : FerryException(message);

/// <summary>The control plane could not be reached.</summary>
public sealed class ConnectionException(string message, Exception? innerException = null) : FerryException(message, innerException);

/// <summary>An input ran longer than the function's <see cref="FunctionOptions.Timeout"/>; its container was killed.</summary>
public sealed class FunctionTimeoutException(string message) : FerryException(message);

/// <summary>The input was cancelled before it produced a result.</summary>
public sealed class InputCancelledException(string message) : FerryException(message);

/// <summary>
/// The container running an input died before the input produced a result, for example because it ran out of memory
/// or the process crashed, and no retries were left.
/// </summary>
public sealed class ContainerCrashedException(string message, bool outOfMemory) : FerryException(message)
{
    /// <summary>True when the container was killed for exceeding its memory limit.</summary>
    public bool OutOfMemory { get; } = outOfMemory;
}

/// <summary>
/// The function's image could not be built. The message names the failing step and carries its output, such as
/// apt's account of a package it could not find. Nothing of the failed step is cached, so the next run retries it.
/// </summary>
public sealed class ImageBuildException(string message) : FerryException(message);

/// <summary>
/// No connected worker could ever run the function: it asks for a GPU type or count, CPU or memory beyond what every
/// worker has. The message names what was asked and what each worker offers. A request that is only busy waits instead.
/// </summary>
public sealed class ResourcesUnavailableException(string message) : FerryException(message);

/// <summary>
/// User code threw inside a container. <see cref="RemoteType"/>, <see cref="RemoteMessage"/> and
/// <see cref="RemoteStackTrace"/> describe the exception as it was thrown remotely.
/// </summary>
public sealed class RemoteException : FerryException
{
    /// <summary>Creates the exception from the remote exception's parts.</summary>
    public RemoteException(string function, string remoteType, string remoteMessage, string? remoteStackTrace)
        : this(function, remoteType, remoteMessage, remoteStackTrace, null)
    {
    }

    /// <summary>
    /// Creates the exception from the remote exception's parts and the remote exception that caused it, which becomes
    /// <see cref="Exception.InnerException"/> (itself a <see cref="RemoteException"/>), so the whole remote chain is there.
    /// </summary>
    public RemoteException(string function, string remoteType, string remoteMessage, string? remoteStackTrace, RemoteException? innerException)
        : this(function, remoteType, remoteMessage, remoteStackTrace, innerException, null)
    {
    }

    /// <summary>
    /// Creates the exception for a remote <see cref="AggregateException"/> (or any exception with several causes):
    /// <paramref name="innerExceptions"/> are its children, and the first of them is <see cref="Exception.InnerException"/>.
    /// </summary>
    public RemoteException(
        string function,
        string remoteType,
        string remoteMessage,
        string? remoteStackTrace,
        RemoteException? innerException,
        IReadOnlyList<RemoteException>? innerExceptions)
        : base($"{function} raised {remoteType}: {remoteMessage}", innerException)
    {
        Function = function;
        RemoteType = remoteType;
        RemoteMessage = remoteMessage;
        RemoteStackTrace = remoteStackTrace;
        InnerExceptions = innerExceptions ?? (innerException is null ? [] : [innerException]);
    }

    /// <summary>
    /// The remote exception's causes: an <see cref="AggregateException"/>'s children, or its one inner exception, or
    /// none. Each is a <see cref="RemoteException"/> with causes of its own.
    /// </summary>
    public IReadOnlyList<RemoteException> InnerExceptions { get; }

    /// <summary>
    /// True when the remote exception is a <typeparamref name="TException"/>: its type has that name, or a type of that
    /// name is loaded in this process and derives from <typeparamref name="TException"/>. So
    /// <c>catch (RemoteException e) when (e.Is&lt;IOException&gt;())</c> also catches a remote
    /// <c>FileNotFoundException</c>. The remote exception is not rebuilt as a local one: its type may not exist here,
    /// may have no usable constructor, and its state would not survive the trip.
    /// </summary>
    public bool Is<TException>()
        where TException : Exception =>
        RemoteType == typeof(TException).FullName
        || (LocalType(RemoteType) is { } type && typeof(TException).IsAssignableFrom(type));

    /// <summary>The first exception in the remote tree (this one, its causes, their causes) that <see cref="Is{TException}"/>, or null.</summary>
    public RemoteException? Find<TException>()
        where TException : Exception
    {
        if (Is<TException>())
        {
            return this;
        }
        foreach (var cause in InnerExceptions)
        {
            if (cause.Find<TException>() is { } found)
            {
                return found;
            }
        }
        return null;
    }

    private static Type? LocalType(string fullName)
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.GetType(fullName, throwOnError: false) is { } type)
            {
                return type;
            }
        }
        return null;
    }

    /// <summary>The function that raised.</summary>
    public string Function { get; }

    /// <summary>The full name of the remote exception's type, such as <c>System.InvalidOperationException</c>.</summary>
    public string RemoteType { get; }

    /// <summary>The remote exception's message.</summary>
    public string RemoteMessage { get; }

    /// <summary>The remote stack trace, as <see cref="Exception.StackTrace"/> printed it in the container.</summary>
    public string? RemoteStackTrace { get; }

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new System.Text.StringBuilder()
            .Append(GetType().FullName).Append(": ").Append(Message).AppendLine()
            .AppendLine("--- remote stack trace ---").Append(RemoteStackTrace);
        AppendCauses(text, this);
        return text.AppendLine().AppendLine("--- local stack trace ---").Append(StackTrace).ToString();
    }

    private static void AppendCauses(System.Text.StringBuilder text, RemoteException exception)
    {
        for (var i = 0; i < exception.InnerExceptions.Count; i++)
        {
            var cause = exception.InnerExceptions[i];
            text.AppendLine().AppendLine(exception.InnerExceptions.Count == 1 ? "--- caused by ---" : $"--- caused by ({i + 1} of {exception.InnerExceptions.Count}) ---")
                .Append(cause.RemoteType).Append(": ").AppendLine(cause.RemoteMessage).Append(cause.RemoteStackTrace);
            AppendCauses(text, cause);
        }
    }
}

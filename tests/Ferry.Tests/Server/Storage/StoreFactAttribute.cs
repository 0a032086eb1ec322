using Xunit.Abstractions;
using Xunit.Sdk;

namespace Ferry.Tests.Storage;

/// <summary>
/// A scenario of the store contract. It runs in every concrete subclass of <see cref="StoreContractTests"/>, and is
/// skipped, with the reason, in one marked <see cref="RequiresPostgresAttribute"/> where no PostgreSQL answers.
/// </summary>
[XunitTestCaseDiscoverer("Ferry.Tests.Storage.StoreFactDiscoverer", "Ferry.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>Marks a test class whose store is PostgreSQL.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>Finds <see cref="StoreFactAttribute"/> tests; a plain fact cannot know which class inherits it.</summary>
public sealed class StoreFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var needsPostgres = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute)).Any();
        var skip = needsPostgres ? PostgresTestDatabase.SkipReason : null;
        yield return skip is null
            ? new XunitTestCase(diagnostics, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)
            : new XunitSkippedDataRowTestCase(diagnostics, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, skip);
    }
}

using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.Server.Security;

/// <summary>
/// Keeps ASP.NET Core's data-protection keys in memory. Authentication brings data protection in, and its default key
/// ring is made as the host starts and written to <c>~/.aspnet</c>, unencrypted, with a warning on the console the
/// first time. Nothing in Ferry protects data with it (tokens are checked against the store), so a key ring that
/// lives and dies with the process is enough. Written here because the framework's in-memory repository is not public.
/// </summary>
internal sealed class MemoryKeyRing : IXmlRepository
{
    private readonly List<XElement> _elements = [];

    /// <summary>Adds data protection to <paramref name="services"/> with its keys kept in memory, unencrypted.</summary>
    public static void Use(IServiceCollection services)
    {
        services.AddDataProtection();
        services.Configure<KeyManagementOptions>(options =>
        {
            options.XmlRepository = new MemoryKeyRing();
            options.XmlEncryptor = new NullXmlEncryptor();
        });
    }

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        lock (_elements)
        {
            return _elements.Select(e => new XElement(e)).ToList();
        }
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        lock (_elements)
        {
            _elements.Add(new XElement(element));
        }
    }
}

using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.Loader;

namespace Ferry.Placeholder;

/// <summary>
/// The load context a specialised placeholder runs the app in: the app's own assemblies and native libraries resolve
/// from its build (through its deps.json), as they would in a container started for it. An assembly the placeholder
/// has already loaded (Ferry's own) is shared only when it is the very same build, compared by module version id;
/// otherwise the app's copy is loaded here, so an app built against another Ferry gets that Ferry.
/// </summary>
internal sealed class AppLoadContext(string mainAssembly) : AssemblyLoadContext("ferry-app", isCollectible: false)
{
    private readonly AssemblyDependencyResolver _resolver = new(mainAssembly);

    protected override Assembly? Load(AssemblyName name)
    {
        if (_resolver.ResolveAssemblyToPath(name) is not { } path)
        {
            // Not the app's: a framework assembly, which the default context holds.
            return null;
        }
        var loaded = Default.Assemblies.FirstOrDefault(a => string.Equals(a.GetName().Name, name.Name, StringComparison.OrdinalIgnoreCase));
        if (loaded is not null && loaded.ManifestModule.ModuleVersionId == ModuleVersionId(path))
        {
            return loaded;
        }
        return LoadFromAssemblyPath(path);
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;

    private static Guid ModuleVersionId(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            var reader = pe.GetMetadataReader();
            return reader.GetGuid(reader.GetModuleDefinition().Mvid);
        }
        catch (Exception e) when (e is IOException or BadImageFormatException or InvalidOperationException)
        {
            return Guid.Empty;
        }
    }
}

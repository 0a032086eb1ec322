namespace System.Runtime.CompilerServices;

// netstandard2.0, which analyzers target, lacks the marker type that records' init accessors need.
internal static class IsExternalInit
{
}

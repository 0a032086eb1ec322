namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>
/// The values the fuzzer puts where a well-behaved client puts an id, a number or a JSON value. Path and query values
/// are written as they go on the wire, percent-encoding included; JSON values as raw JSON text, which may be invalid.
/// </summary>
internal static class HostileValues
{
    /// <summary>Route segments: empty-ish, traversal, NUL, bad escapes, invalid UTF-8 (lone surrogates), unicode, numbers.</summary>
    public static readonly string[] Segments =
    [
        "", " ", "%20", "x", "0", "-1", "1.5", "9999999999999999999999", "1e400", "-1e400", "NaN", "Infinity", "null", "true",
        "..", ".", "%2e%2e", "%2E%2E%2F%2E%2E", "..%2f..%2fetc%2fpasswd", "%2F", "%5C", "..%5C..%5C", "%00", "a%00b", "%0A", "%0D%0A",
        "%09", "%25", "%", "%zz", "%ED%A0%80", "%ED%B0%80", "%ED%A0%80%ED%A0%80", "a%ED%A0%80b", "%C0%AE%C0%AE", "%C0%80", "%FF%FE",
        "%uD800", "%F0%9F%9A%80", "%E6%BC%A2%E5%AD%97", "%E2%80%AE", "%EF%BB%BF", "%22", "'", "%27%3B%20DROP%20TABLE%20apps%3B--",
        "%3Cscript%3E", "*", "~", "%7B%7D", "%5B%5D", "CON", "ap-", "fc-", "ct-", "tk-", "bd-", "ss-", "wk-",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
    ];

    /// <summary>
    /// Values of a long-poll's <c>wait</c>: none asks for a long wait, so that a request that is served ends soon, even
    /// when repeated (<c>wait=1&amp;wait=2</c> binds as 12 seconds: the values are joined with a comma, which the
    /// number parser reads as a thousands separator).
    /// </summary>
    public static readonly string[] Waits =
    [
        "NaN", "nan", "-NaN", "Infinity", "-Infinity", "%E2%88%9E", "1e400", "-1e400", "1e-400", "4.9e-324", "-1", "-0", "0",
        "0.01", "0.05", "", "abc", "0x10", "%20", "%00", "%ED%A0%80", "true", "null", "-9999999999", "-1.7976931348623157e308",
    ];

    /// <summary>Values of a cursor such as <c>after</c>.</summary>
    public static readonly string[] Cursors =
    [
        "-5", "-1", "0", "1", "2", "9999999999999999999", "99999999999999999999999", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "1e3", "1.5", "NaN", "", "abc", "%00", "%ED%A0%80", "0x1",
    ];

    /// <summary>Values of a count such as <c>limit</c>.</summary>
    public static readonly string[] Counts =
    [
        "0", "-1", "1", "10000", "10001", "2147483647", "2147483648", "-2147483648", "99999999999", "1.5", "NaN", "", "x", "%00",
    ];

    /// <summary>JSON tokens that stand in for any value: wrong types, nulls, non-finite and huge numbers, bad strings.</summary>
    public static readonly string[] Json =
    [
        "null", "true", "false", "0", "-1", "1.5", "-0", "1e400", "-1e400", "1e-400", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"",
        "NaN", "Infinity", "-Infinity", "2147483647", "2147483648", "-2147483648", "-2147483649", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e308", "-1e308", "4.9e-324",
        "123456789012345678901234567890", "0.0000000000000000000000000001", "1E+2", "01", "+1", ".5", "1.", "0x10",
        "\"\"", "\" \"", "\"\\ud800\"", "\"x\\udc00\"", "\"\\udc00\\ud800\"", "\"\\ud800\\ud800\"", "\"a\\u0000b\"", "\"\\u0000\"",
        "\"../../etc/passwd\"", "\"/\"", "\"..\"", "\"漢字🚀\"", "\"\\u202e\"", "\"\\ufeff\"", "\"0\"", "\"1e400\"", "\"true\"",
        "\"null\"", "{}", "[]", "[null]", "[1,null]", "[null,null]", "{\"\":null}", "{\"\\ud800\":1}", "[\"\\ud800\"]",
        "{\"a\":\"\\udfff\"}", "[[]]", "[{}]", "\"\\\\\"", "\"\\\"\"", "'single'", "undefined", "\"\\x41\"", "\"\\u12\"",
    ];

    /// <summary>The JSON tokens above that cannot ask the server to wait: kept for fields such as <c>waitSeconds</c>.</summary>
    public static readonly string[] JsonWithoutLongWaits =
        [.. Json.Where(token => !double.TryParse(token, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n)
            || !double.IsFinite(n) || n <= 0.1)];

    /// <summary>Whole bodies that are not the JSON of any request.</summary>
    public static readonly string[] Bodies =
    [
        "", " ", "null", "[]", "{}", "\"text\"", "42", "-1e400", "true", "{", "}", "[", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}",
        "{\"a\":1,}", "[1,]", "{\"a\":1}{\"b\":2}", "{\"a\":1} trailing", "/* comment */ {}", "<xml/>", "a=1&b=2",
        "{\"\\ud800\":1}", "\"\\ud800\"", "[null]", "{\"a\":NaN}", "\u0000", "\uFEFF{}",
    ];
}

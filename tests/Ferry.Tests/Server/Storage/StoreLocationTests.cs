using FluentAssertions;
using Ferry.Server.Storage;
using Npgsql;

namespace Ferry.Tests.Storage;

public sealed class StoreLocationTests
{
    [Fact]
    public void ToConnectionString_PostgresUrl_CarriesEveryPartDecoded()
    {
        var connection = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("postgres://ferry:p%40ss%3Aword@db.internal:6543/ferry_prod?sslmode=require"));

        connection.Host.Should().Be("db.internal");
        connection.Port.Should().Be(6543);
        connection.Username.Should().Be("ferry");
        connection.Password.Should().Be("p@ss:word");
        connection.Database.Should().Be("ferry_prod");
        connection.SslMode.Should().Be(SslMode.Require);
    }

    [Fact]
    public void ToConnectionString_UrlWithoutPortOrHost_TakesPostgresDefaultsAndASocketFromTheQuery()
    {
        var tcp = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("postgresql://ferry@localhost/ferry"));
        var socket = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("postgres:///ferry?host=/var/run/postgresql"));

        (tcp.Host, tcp.Port, tcp.Username, tcp.Password, tcp.Database).Should().Be(("localhost", 5432, "ferry", null, "ferry"));
        (socket.Host, socket.Port, socket.Database).Should().Be(("/var/run/postgresql", 5432, "ferry"));
    }

    [Fact]
    public void ToConnectionString_NpgsqlConnectionString_IsKept()
    {
        var connection = new NpgsqlConnectionStringBuilder(StoreLocation.ToConnectionString("Host=db;Username=ferry;Password=secret;Database=ferry;Search Path=tenant_a"));

        (connection.Host, connection.Username, connection.Password, connection.Database, connection.SearchPath).Should().Be(("db", "ferry", "secret", "ferry", "tenant_a"));
    }

    [Theory]
    [InlineData("postgres://ferry:hunter2@db:notaport/ferry")]
    [InlineData("postgres://ferry:hunter2@db/ferry?no_such_setting=1")]
    [InlineData("Host=db;Password=hunter2;NoSuchSetting=1")]
    public void ToConnectionString_Malformed_FailsWithoutRepeatingThePassword(string location)
    {
        var parse = () => StoreLocation.ToConnectionString(location);

        parse.Should().Throw<StoreUnavailableException>().Which.Message.Should().NotContain("hunter2");
    }

    [Fact]
    public void Describe_NamesDatabaseHostAndPortButNoCredentials()
    {
        var description = StoreLocation.Describe("postgres://ferry:hunter2@db.internal:6543/ferry_prod", "/data");

        description.Should().Be("PostgreSQL database ferry_prod on db.internal:6543");
        StoreLocation.Describe(null, "/data").Should().Be("SQLite " + Path.Combine("/data", "ferry.db"));
        StoreLocation.Describe("", "/data").Should().StartWith("SQLite");
    }

    [Fact]
    public async Task Create_SelectsTheStoreByLocation()
    {
        await using var sqlite = StoreLocation.Create(null, "/data");
        await using var postgres = StoreLocation.Create("postgres://ferry@db/ferry", "/data");

        sqlite.Should().BeOfType<SqliteStore>();
        postgres.Should().BeOfType<PostgresStore>();
    }
}

using FluentAssertions;
using Ferry.Server.Gateway;
using Ferry.Server.Scheduling;
using Microsoft.AspNetCore.Http;

namespace Ferry.Tests.Server.Gateway;

public sealed class GatewayRoutingTests
{
    [Theory]
    [InlineData("api.localhost:7326", "api")]
    [InlineData("API.web.example.com", "api")]
    [InlineData("localhost:7326", null)]
    [InlineData("127.0.0.1:7326", null)]
    [InlineData("[::1]:7326", null)]
    [InlineData("", null)]
    public void HostLabel_FirstDnsLabelOfANameOnly(string host, string? label) =>
        GatewayHandler.HostLabel(new HostString(host)).Should().Be(label);

    [Theory]
    [InlineData("http://127.0.0.1:7326/", "api", "http://api.localhost:7326/")]
    [InlineData("https://10.0.0.5:443/", "api", "https://api.10.0.0.5:443/")]
    public void WebUrl_LoopbackGatewayUsesLocalhostNames(string gateway, string label, string url) =>
        Scheduler.WebUrl(new Uri(gateway), label).Should().Be(url);
}

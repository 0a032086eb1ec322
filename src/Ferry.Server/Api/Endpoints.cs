using Ferry.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Ferry.Server.Api;

/// <summary>
/// The HTTP API under <c>/v1</c> and the two streaming channels for workers and containers, one feature's routes per
/// class; the routes' templates are <see cref="Routes.Templates"/>.
/// </summary>
internal static class Endpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        var v1 = routes.MapGroup(ProtocolInfo.Prefix);
        HealthRoutes.Map(v1);
        BlobRoutes.Map(v1);
        BuildRoutes.Map(v1);
        AppRoutes.Map(v1);
        CallRoutes.Map(v1);
        CallStatsRoutes.Map(v1);
        StreamRoutes.Map(v1);
        FunctionRoutes.Map(v1);
        ContainerRoutes.Map(v1);
        ContainerConnection.Map(v1);
        SessionRoutes.Map(v1);
        WorkerStream.Map(v1);
        ImageRoutes.Map(v1);
        TokenRoutes.Map(v1);
        SecretRoutes.Map(v1);
        DictRoutes.Map(v1);
        QueueRoutes.Map(v1);
        VolumeRoutes.Map(v1);
        DeploymentRoutes.Map(v1);
        GatewayRoutes.Map(v1);
    }
}

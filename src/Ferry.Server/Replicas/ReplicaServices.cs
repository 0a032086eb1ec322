using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Replicas;

/// <summary>The services of a server that is one replica among several: a scheduler that owns only leased apps, the lease keeper, and the forwarding.</summary>
internal static class ReplicaServices
{
    public static void Add(IServiceCollection services, ReplicaOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(provider =>
        {
            var scheduler = new Scheduler(provider.GetRequiredService<IAppStore>(), provider.GetRequiredService<ICallStore>(), provider.GetRequiredService<LogHub>(),
                provider.GetRequiredService<TimeProvider>(), provider.GetRequiredService<SchedulerOptions>(), provider.GetRequiredService<ILogger<Scheduler>>(),
                provider.GetRequiredService<Objects.SecretRegistry>(), ownsEveryApp: false);
            return scheduler;
        });
        services.AddSingleton(provider =>
        {
            var coordinator = ActivatorUtilities.CreateInstance<ReplicaCoordinator>(provider);
            // An app created here is leased here before anyone can ask another replica for it.
            provider.GetRequiredService<Scheduler>().ClaimNewApp = coordinator.ClaimNewAppAsync;
            return coordinator;
        });
        services.AddSingleton<ReplicaRouting>();
        services.AddHttpForwarder();
    }
}

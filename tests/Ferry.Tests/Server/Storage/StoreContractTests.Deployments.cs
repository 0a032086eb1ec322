using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

public abstract partial class StoreContractTests
{
    #region IDeploymentStore: versions and schedule fires

    // A (name, version) is saved once; a schedule keeps only its last fire; both survive a reopen.

    private IDeploymentStore Deployments => Store;

    private static AppDefinition Definition(string name, double? period = null) => new(name,
        [new FunctionDefinition("tick", [], "None", new FunctionSettings { Schedule = period is null ? null : new ScheduleSpec(PeriodSeconds: period) })], []);

    [StoreFact]
    public async Task ListDeployments_AfterSavesAndARepeat_ReturnsEachVersionOnceByNameThenVersion()
    {
        var v1 = new DeploymentRecord("jobs", 1, "ap-1", "bd-1", T0, "first", "alice@host:/src/jobs.cs", null, Definition("jobs", 3600));
        var v2 = new DeploymentRecord("jobs", 2, "ap-2", "bd-2", T0.AddMinutes(5), null, null, null, Definition("jobs"));
        var other = new DeploymentRecord("api", 1, "ap-3", "bd-3", T0.AddMinutes(1), null, null, null, Definition("api"));
        var rollback = new DeploymentRecord("jobs", 3, "ap-4", "bd-1", T0.AddMinutes(9), "first", null, 1, Definition("jobs", 3600));

        await Deployments.SaveDeploymentAsync(v2, default);
        await Deployments.SaveDeploymentAsync(v1, default);
        await Deployments.SaveDeploymentAsync(other, default);
        await Deployments.SaveDeploymentAsync(rollback, default);
        await Deployments.SaveDeploymentAsync(v1 with { AppId = "ap-changed", Tag = "changed" }, default);
        await ReopenAsync();
        var listed = await Deployments.ListDeploymentsAsync(default);

        listed.Should().HaveCount(4);
        listed.Select(d => (d.Name, d.Version, d.AppId)).Should().Equal(("api", 1, "ap-3"), ("jobs", 1, "ap-1"), ("jobs", 2, "ap-2"), ("jobs", 3, "ap-4"));
        listed[1].Should().BeEquivalentTo(v1, "a saved version is never rewritten");
        listed[3].Should().BeEquivalentTo(rollback);
    }

    [StoreFact]
    public async Task ListScheduleFires_AfterRepeatedFires_ReturnsTheLastFireOfEachSchedule()
    {
        await Deployments.SaveScheduleFireAsync(new ScheduleFireRecord("jobs", "tick", T0, "cs-1"), default);
        await Deployments.SaveScheduleFireAsync(new ScheduleFireRecord("jobs", "report", T0, "cs-2"), default);
        await Deployments.SaveScheduleFireAsync(new ScheduleFireRecord("jobs", "tick", T0.AddHours(1), "cs-3"), default);
        await ReopenAsync();

        (await Deployments.ListScheduleFiresAsync(default)).Should().Equal(
            new ScheduleFireRecord("jobs", "report", T0, "cs-2"),
            new ScheduleFireRecord("jobs", "tick", T0.AddHours(1), "cs-3"));
    }

    #endregion
}

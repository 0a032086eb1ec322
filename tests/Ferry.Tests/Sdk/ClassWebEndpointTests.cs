using FluentAssertions;
using Ferry.Protocol;
using Ferry.Web;

namespace Ferry.Tests.Sdk;

public sealed class ClassWebEndpointTests
{
    private sealed class Model
    {
        [Enter]
        public void Load()
        {
        }

        public string Predict(string text) => text;

        [WebEndpoint(Method = "POST", Label = "score", RequiresAuth = true, RequestTimeoutSeconds = 30)]
        public int Score(int value) => value;

        [WebEndpoint]
        public static string Version() => "v1";
    }

    private sealed class Unmarked
    {
        public string Predict(string text) => text;
    }

    private sealed class NeedsSize
    {
        [Parameter]
        public required string Size { get; init; }

        public string Predict(string text) => Size + text;
    }

    private sealed class Hidden
    {
        [WebEndpoint]
        internal string Secret() => "x";
    }

    private sealed class Forever
    {
        [WebEndpoint(RequestTimeoutSeconds = -1)]
        public string Wait() => "x";
    }

    [Fact]
    public void WebEndpoint_InstanceMethod_RegistersClassDotMethodWithItsSpec()
    {
        var app = new App("shop");

        var function = app.WebEndpoint<Model>(m => m.Predict, new WebEndpointOptions { Label = "predict" });

        function.Name.Should().Be("Model.Predict");
        var definition = app.ToDefinition().Functions.Single();
        definition.Settings.Web.Should().Be(new WebEndpointSpec(WebEndpointKinds.Function, "predict", "GET", false, null, 5, 150));
    }

    [Fact]
    public void WebEndpointsOf_MarkedMethods_RegistersEachWithItsAttributeSettings()
    {
        var app = new App("shop");

        var functions = app.WebEndpointsOf<Model>(new FunctionOptions { MaxInputs = 4 });

        functions.Select(f => f.Name).Should().Equal("Model.Score", "Model.Version");
        var settings = app.ToDefinition().Functions.ToDictionary(f => f.Name, f => f.Settings);
        settings["Model.Score"].Web.Should().Be(new WebEndpointSpec(WebEndpointKinds.Function, "score", "POST", true, null, 5, 30));
        settings["Model.Version"].Web!.Label.Should().Be("shop-model-version");
        settings["Model.Score"].MaxInputs.Should().Be(4);
    }

    [Fact]
    public void WebEndpoint_SelectorThatBuildsADelegate_IsRefused()
    {
        var app = new App("shop");

        var act = () => app.WebEndpoint<Model>(m => (string t) => m.Predict(t));

        act.Should().Throw<InvalidRequestException>().WithMessage("The web endpoint's selector must name an instance method of Model, as in m => m.Predict*");
    }

    [Fact]
    public void WebEndpoint_ClassWithARequiredParameter_IsRefusedNamingIt()
    {
        var app = new App("shop");

        var act = () => app.WebEndpoint<NeedsSize>(m => m.Predict);

        act.Should().Throw<InvalidRequestException>().WithMessage("Class 'NeedsSize' has a required [Parameter]*'NeedsSize.Predict'*");
    }

    [Fact]
    public void WebEndpointsOf_BadClasses_AreRefusedNamingTheProblem()
    {
        var app = new App("shop");

        app.Invoking(a => a.WebEndpointsOf<Unmarked>()).Should().Throw<InvalidRequestException>().WithMessage("Class 'Unmarked' has no method marked [WebEndpoint].");
        app.Invoking(a => a.WebEndpointsOf<Hidden>()).Should().Throw<InvalidRequestException>().WithMessage("The web endpoint 'Hidden.Secret' must be public.");
        app.Invoking(a => a.WebEndpointsOf<Forever>()).Should().Throw<InvalidRequestException>()
            .WithMessage("Forever.Wait: RequestTimeoutSeconds must be above zero and at most 86400 (24 hours), not -1.");
    }
}

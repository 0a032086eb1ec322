using System.Text.Json.Serialization;

namespace Ferry.Protocol;

/// <summary>Source-generated serialization for every wire type.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(AppDefinition))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(CreateTokenResponse))]
[JsonSerializable(typeof(TokenList))]
[JsonSerializable(typeof(TokenSummary))]
[JsonSerializable(typeof(AppSummary))]
[JsonSerializable(typeof(CreateBuildRequest))]
[JsonSerializable(typeof(CreateBuildResponse))]
[JsonSerializable(typeof(MissingBlobsRequest))]
[JsonSerializable(typeof(MissingBlobsResponse))]
[JsonSerializable(typeof(BuildManifest))]
[JsonSerializable(typeof(CreateAppRequest))]
[JsonSerializable(typeof(CreateAppResponse))]
[JsonSerializable(typeof(AppList))]
[JsonSerializable(typeof(CreateCallRequest))]
[JsonSerializable(typeof(CreateCallResponse))]
[JsonSerializable(typeof(AddInputsRequest))]
[JsonSerializable(typeof(AddInputsResponse))]
[JsonSerializable(typeof(OutputBatch))]
[JsonSerializable(typeof(ItemBatch))]
[JsonSerializable(typeof(CallStatus))]
[JsonSerializable(typeof(CallProgress))]
[JsonSerializable(typeof(FunctionStats))]
[JsonSerializable(typeof(AutoscalerUpdate))]
[JsonSerializable(typeof(AutoscalerSettings))]
[JsonSerializable(typeof(LogBatch))]
[JsonSerializable(typeof(ContainerList))]
[JsonSerializable(typeof(ImageList))]
[JsonSerializable(typeof(ContainerInput))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(ContainerMessage))]
[JsonSerializable(typeof(WorkerMessage))]
[JsonSerializable(typeof(FunctionSettings))]
[JsonSerializable(typeof(RemoteError))]
[JsonSerializable(typeof(PoolSpec))]
[JsonSerializable(typeof(List<InputItem>))]
[JsonSerializable(typeof(List<OutputItem>))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;

using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http.Problems;

/// <summary>
/// A problem answer (RFC 9457, <c>application/problem+json</c>) of a <see cref="ServiceError"/>. The derived
/// <c>ApiProblem&lt;…&gt;</c> types name in their type arguments the statuses a handler may answer, and put exactly
/// those on the endpoint's metadata, so the OpenAPI document lists what the handler really returns.
/// </summary>
public abstract class ApiProblemResult : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<ProblemDetails>, IContentTypeHttpResult
{
    private protected ApiProblemResult(ServiceError error)
    {
        Error = error;
        Value = ApiProblems.ToProblemDetails(error);
    }

    public ServiceError Error { get; }

    public ProblemDetails Value { get; }

    object? IValueHttpResult.Value => Value;

    public int? StatusCode => Value.Status;

    public string ContentType => "application/problem+json";

    public Task ExecuteAsync(HttpContext httpContext) => ApiProblems.WriteAsync(httpContext, Value);

    private protected static void Declare(EndpointBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), ["application/problem+json"]));
        }
    }
}

/// <summary>A problem answer whose status is one of T1 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code);
}

/// <summary>A problem answer whose status is one of T1, T2 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1, T2> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
    where T2 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1, T2>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code, T2.Code);
}

/// <summary>A problem answer whose status is one of T1, T2, T3 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1, T2, T3> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
    where T2 : IProblemStatus
    where T3 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1, T2, T3>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code, T2.Code, T3.Code);
}

/// <summary>A problem answer whose status is one of T1, T2, T3, T4 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1, T2, T3, T4> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
    where T2 : IProblemStatus
    where T3 : IProblemStatus
    where T4 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1, T2, T3, T4>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code, T2.Code, T3.Code, T4.Code);
}

/// <summary>A problem answer whose status is one of T1, T2, T3, T4, T5 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1, T2, T3, T4, T5> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
    where T2 : IProblemStatus
    where T3 : IProblemStatus
    where T4 : IProblemStatus
    where T5 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1, T2, T3, T4, T5>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code, T2.Code, T3.Code, T4.Code, T5.Code);
}

/// <summary>A problem answer whose status is one of T1, T2, T3, T4, T5, T6 (see <see cref="ApiProblemResult"/>).</summary>
public sealed class ApiProblem<T1, T2, T3, T4, T5, T6> : ApiProblemResult, IEndpointMetadataProvider
    where T1 : IProblemStatus
    where T2 : IProblemStatus
    where T3 : IProblemStatus
    where T4 : IProblemStatus
    where T5 : IProblemStatus
    where T6 : IProblemStatus
{
    public ApiProblem(ServiceError error)
        : base(error)
    {
    }

    public static implicit operator ApiProblem<T1, T2, T3, T4, T5, T6>(ServiceError error) => new(error);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) => Declare(builder, T1.Code, T2.Code, T3.Code, T4.Code, T5.Code, T6.Code);
}

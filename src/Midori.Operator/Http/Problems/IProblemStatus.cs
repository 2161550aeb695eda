namespace Midori.Operator.Http.Problems;

/// <summary>A status an <see cref="ApiProblem{T1}"/> may carry, named as a type so a handler's signature lists them.</summary>
public interface IProblemStatus
{
    static abstract int Code { get; }
}

/// <summary>The statuses a handler may answer with a problem (the route group adds 401, 403, 413 and 429 of its middleware).</summary>
public static class Status
{
    public sealed class BadRequest : IProblemStatus { public static int Code => StatusCodes.Status400BadRequest; }

    public sealed class Forbidden : IProblemStatus { public static int Code => StatusCodes.Status403Forbidden; }

    public sealed class NotFound : IProblemStatus { public static int Code => StatusCodes.Status404NotFound; }

    public sealed class Conflict : IProblemStatus { public static int Code => StatusCodes.Status409Conflict; }

    public sealed class TooLarge : IProblemStatus { public static int Code => StatusCodes.Status413PayloadTooLarge; }

    public sealed class Unprocessable : IProblemStatus { public static int Code => StatusCodes.Status422UnprocessableEntity; }

    public sealed class BadGateway : IProblemStatus { public static int Code => StatusCodes.Status502BadGateway; }

    public sealed class Unavailable : IProblemStatus { public static int Code => StatusCodes.Status503ServiceUnavailable; }

    public sealed class GatewayTimeout : IProblemStatus { public static int Code => StatusCodes.Status504GatewayTimeout; }
}

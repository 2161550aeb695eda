using System.Diagnostics.CodeAnalysis;

namespace Midori.Operator.Http.Services;

/// <summary>
/// A service's answer: its value, or the <see cref="ServiceError"/> that refused it. Services return refusals instead
/// of throwing them, so every caller sees what can go wrong and the HTTP layer maps each kind in one place.
/// Exceptions stay for what nobody can act on in the request (a dependency that broke mid-call, a bug).
/// </summary>
public readonly struct ServiceResult<T>
{
    private readonly T _value;

    private ServiceResult(T value, ServiceError? error)
    {
        _value = value;
        Error = error;
    }

    /// <summary>The refusal; null on success.</summary>
    public ServiceError? Error { get; }

    /// <summary>The value; reading it from a refusal is a bug in the caller.</summary>
    public T Value => Error is null ? _value : throw new InvalidOperationException($"the service refused ({Error.Kind}): {Error.Detail}");

    /// <summary>True with the value on success, false with the refusal.</summary>
    public bool TryGetValue([MaybeNullWhen(false)] out T value, [NotNullWhen(false)] out ServiceError? error)
    {
        value = _value;
        error = Error;
        return error is null;
    }

    public static implicit operator ServiceResult<T>(T value) => new(value, null);

    public static implicit operator ServiceResult<T>(ServiceError error) => new(default!, error);
}

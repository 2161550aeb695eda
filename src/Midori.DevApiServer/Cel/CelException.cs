namespace Midori.DevApiServer.Cel;

/// <summary>A CEL parse or evaluation error. Evaluation errors follow CEL wording (e.g. "no such key: x").</summary>
public sealed class CelException(string message) : Exception(message);
